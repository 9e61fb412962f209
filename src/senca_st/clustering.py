"""Clustering a spot embedding into regions.

Two rules, chosen with ``cluster.method``:

- ``gmm`` (default): the embedding's top ``cluster.pcs`` principal components,
  then a Gaussian mixture with one covariance matrix shared by all regions
  (``covariance_type='tied'``: mclust's EEE model, which GraphST and STAGATE
  cluster with).  On the same DLPFC embeddings it scores 0.47 ARI where
  Ward scores 0.34 (README, "How it compares"): a region may be as large as
  the data make it, where Ward's minimum-variance merges favour regions of
  similar size.  Memory is linear in the number of spots.
- ``ward``: agglomerative clustering with Ward linkage on the embedding, the
  paper's rule (O(n^2) memory: fine to some 20k spots).

How many regions comes from the sample sheet or, by default, from the
pathologist's annotation.  Both rules are deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from senca_st.errors import InputError

METHODS = ("gmm", "ward")

#: Mixture fits started from different k-means solutions; the best likelihood wins.
#: One start lands in a poor local optimum on DLPFC often enough to cost ~0.1 ARI.
GMM_STARTS = 10

#: Ridge added to the shared covariance, relative to the components' mean variance:
#: keeps a region of a few identical spots from making the fit singular.
GMM_RIDGE = 1e-3


def _check(n: int, n_clusters: int, source: str) -> None:
    if n_clusters < 2:
        raise InputError(source or None, f"n_clusters is {n_clusters}", "Ask for at least 2 regions in the sample sheet.")
    if n < n_clusters:
        raise InputError(
            source or None,
            f"{n} spots cannot form {n_clusters} regions",
            "Lower n_clusters in the sample sheet.",
        )


def leading_components(embedding: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """The embedding's top principal components (centred; all of it when it is no wider)."""
    X = np.asarray(embedding, dtype=np.float64)
    n = min(n_components, X.shape[0] - 1, X.shape[1])
    if n_components <= 0 or n >= X.shape[1]:
        return X - X.mean(axis=0)
    return PCA(n_components=n, random_state=seed).fit_transform(X)


def gmm_clusters(embedding: np.ndarray, n_clusters: int, n_components: int = 20, seed: int = 0) -> np.ndarray:
    """Tied-covariance Gaussian mixture on the leading components: regions 0..n_clusters-1."""
    P = leading_components(embedding, n_components, seed)
    # unit mean variance, so the ridge means the same for any embedding's scale
    P = P / np.sqrt(float(P.var(axis=0).mean()) or 1.0)
    model = GaussianMixture(
        n_components=n_clusters,
        covariance_type="tied",
        reg_covar=GMM_RIDGE,
        n_init=GMM_STARTS,
        init_params="kmeans",
        random_state=seed,
    )
    labels = model.fit_predict(P)
    return _dense_ids(labels)


def _dense_ids(labels: np.ndarray) -> np.ndarray:
    """Renumber so ids are 0..m-1 in order of first appearance (a mixture may leave a component empty)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse.reshape(-1)].astype(np.int64)


def cluster_spots(
    embedding: np.ndarray,
    n_clusters: int,
    source: str = "",
    method: str = "gmm",
    n_components: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Region id (0..n_clusters-1) for each spot, by ``method`` (see the module docstring)."""
    embedding = np.asarray(embedding, dtype=np.float64)
    _check(embedding.shape[0], n_clusters, source)
    if method == "gmm":
        return gmm_clusters(embedding, n_clusters, n_components, seed)
    if method == "ward":
        return AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(embedding).astype(np.int64)
    raise ValueError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")
