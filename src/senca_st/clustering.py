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
pathologist's annotation; ``n_clusters: auto`` chooses it from the embedding
(:func:`choose_n_clusters`).  Both rules are deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from senca_st.errors import InputError
from senca_st.samplesheet import AUTO_RANGE

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


def _mixture_input(embedding: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    P = leading_components(embedding, n_components, seed)
    # unit mean variance, so the ridge means the same for any embedding's scale
    return P / np.sqrt(float(P.var(axis=0).mean()) or 1.0)


def _mixture(P: np.ndarray, n_clusters: int, seed: int) -> GaussianMixture:
    return GaussianMixture(
        n_components=n_clusters,
        covariance_type="tied",
        reg_covar=GMM_RIDGE,
        n_init=GMM_STARTS,
        init_params="kmeans",
        random_state=seed,
    ).fit(P)


def gmm_clusters(embedding: np.ndarray, n_clusters: int, n_components: int = 20, seed: int = 0) -> np.ndarray:
    """Tied-covariance Gaussian mixture on the leading components: regions 0..n_clusters-1."""
    P = _mixture_input(embedding, n_components, seed)
    return _dense_ids(_mixture(P, n_clusters, seed).predict(P))




@dataclass(frozen=True)
class Choice:
    """What :func:`choose_n_clusters` chose, with the runner-up and the curve it chose on."""

    n_clusters: int
    runner_up: int
    bic: dict[int, float]
    score: dict[int, float]

    def describe(self) -> str:
        return (
            f"{self.n_clusters} regions (BIC knee over k {min(self.bic)}-{max(self.bic)}; "
            f"runner-up {self.runner_up}; knee score "
            + ", ".join(f"k{k} {v:.3f}" for k, v in self.score.items())
            + ")"
        )


def choose_n_clusters(
    embedding: np.ndarray, n_components: int = 10, seed: int = 0, k_range: tuple[int, int] = AUTO_RANGE
) -> Choice:
    """The number of regions at the knee of the mixture's BIC curve (kneedle, Satopaa et al. 2011).

    For each k the tied-covariance mixture :func:`gmm_clusters` fits is scored
    by BIC.  BIC alone keeps falling to the top of the range on every section
    measured (a finer mixture always fits spot embeddings better), so the
    choice is where the curve bends: with k and BIC both scaled to [0, 1], the
    k furthest below the straight line from the first point to the last.
    Measured on HER2ST A1-D1 and DLPFC 151673/151674 (README, "Number of
    regions").
    """
    lo, hi = k_range
    P = _mixture_input(embedding, n_components, seed)
    hi = min(hi, P.shape[0] - 1)
    if hi < lo:
        raise InputError(None, f"{P.shape[0]} spots are too few to choose a number of regions from {lo} up")
    ks = list(range(lo, hi + 1))
    bic = np.array([_mixture(P, k, seed).bic(P) for k in ks])
    x = (np.array(ks, dtype=np.float64) - lo) / max(hi - lo, 1)
    span = float(bic.max() - bic.min())
    y = (bic - bic.min()) / span if span > 0 else np.zeros_like(bic)
    score = (1.0 - x) - y
    order = np.argsort(-score, kind="stable")
    return Choice(
        n_clusters=ks[int(order[0])],
        runner_up=ks[int(order[1])] if len(ks) > 1 else ks[0],
        bic={k: float(b) for k, b in zip(ks, bic)},
        score={k: float(v) for k, v in zip(ks, score)},
    )


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
