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
  paper's rule (O(n^2) memory: 3.3 GiB at 20k spots, 80 GiB at 100k).

Large sections: either rule is fitted on a random subset of spots
(``FIT_SPOTS`` for the mixture, ``WARD_SPOTS`` for Ward) and every other spot
is assigned by the fitted model (the mixture's most probable component; for
Ward the nearest region mean), so memory and time stop growing with the
section.  Sections up to those sizes (every HER2ST and DLPFC section) are
clustered exactly as before; README "Scale" gives the ARI of subset vs whole
fits where both run.

``cluster.refine`` then cleans the regions by the spots' neighbours
(:func:`refine_labels`): by default only a spot alone in its region among its
first ring takes its neighbours' region; a number N applies GraphST's
refinement over the N nearest spots.

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

from senca_st.defaults import default
from senca_st.errors import InputError
from senca_st.method.neighbourhood import nearest_spots, ring_size
from senca_st.samplesheet import AUTO_RANGE

METHODS = ("gmm", "ward")

#: Mixture fits started from different k-means solutions; the best likelihood wins.
#: One start lands in a poor local optimum on DLPFC often enough to cost ~0.1 ARI.
GMM_STARTS = 10

#: Ridge added to the shared covariance, relative to the components' mean variance:
#: keeps a region of a few identical spots from making the fit singular.
GMM_RIDGE = 1e-3

#: Most spots a mixture is fitted on (the rest are assigned by it): a 10-start fit on 50k spots
#: takes about a minute on 2 cores, and a mixture of a handful of regions is well determined by then.
FIT_SPOTS = 50_000

#: Most spots Ward's linkage is built on (the rest join the nearest region mean): 10.8 s and
#: 0.95 GiB at 10k spots on 2 cores, against 113 s and 3.25 GiB at 20k.
WARD_SPOTS = 10_000


def fit_rows(n: int, limit: int, seed: int) -> np.ndarray | None:
    """The spots a clustering is fitted on: None (all of them) up to ``limit``, else a seeded random ``limit``."""
    if n <= limit:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


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


def gmm_clusters(
    embedding: np.ndarray, n_clusters: int, n_components: int = 20, seed: int = 0, fit_spots: int = FIT_SPOTS
) -> np.ndarray:
    """Tied-covariance Gaussian mixture on the leading components: regions 0..n_clusters-1.

    Fitted on at most ``fit_spots`` spots (:func:`fit_rows`), then every spot is assigned.
    """
    P = _mixture_input(embedding, n_components, seed)
    rows = fit_rows(P.shape[0], fit_spots, seed)
    return dense_ids(_mixture(P if rows is None else P[rows], n_clusters, seed).predict(P))


def ward_clusters(embedding: np.ndarray, n_clusters: int, seed: int = 0, fit_spots: int = WARD_SPOTS) -> np.ndarray:
    """Ward's agglomerative clustering; past ``fit_spots`` spots, on a subset with the rest joining the nearest region mean."""
    X = np.asarray(embedding, dtype=np.float64)
    rows = fit_rows(X.shape[0], fit_spots, seed)
    part = X if rows is None else X[rows]
    fitted = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward").fit_predict(part)
    if rows is None:
        return fitted.astype(np.int64)
    means, _ = region_means(part, fitted)
    # squared distances without the (n, k, d) difference array: |x|^2 - 2 x.m + |m|^2
    d2 = (X**2).sum(axis=1)[:, None] - 2.0 * X @ means.T + (means**2).sum(axis=1)[None, :]
    labels = np.argmin(d2, axis=1)
    labels[rows] = fitted  # the fitted spots keep Ward's own regions
    return labels.astype(np.int64)




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
    rows = fit_rows(P.shape[0], FIT_SPOTS, seed)
    P = P if rows is None else P[rows]
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


def region_means(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each region's mean row and its number of spots, for regions 0..max(labels) (an empty one: zeros, size 0)."""
    sizes = np.bincount(labels)
    sums = np.zeros((len(sizes), X.shape[1]))
    np.add.at(sums, labels, X)
    return sums / np.maximum(sizes, 1)[:, None], sizes


def dense_ids(labels: np.ndarray) -> np.ndarray:
    """Renumber so ids are 0..m-1 in order of first appearance (a mixture may leave a component empty)."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse.reshape(-1)].astype(np.int64)


def cluster_spots(
    embedding: np.ndarray,
    n_clusters: int,
    source: str = "",
    method: str = default("cluster.method"),
    n_components: int = default("cluster.pcs"),
    seed: int = 0,
) -> np.ndarray:
    """Region id (0..n_clusters-1) for each spot, by ``method`` (see the module docstring)."""
    embedding = np.asarray(embedding, dtype=np.float64)
    _check(embedding.shape[0], n_clusters, source)
    if method == "gmm":
        return gmm_clusters(embedding, n_clusters, n_components, seed)
    if method == "ward":
        return ward_clusters(embedding, n_clusters, seed)
    raise ValueError(f"unknown clustering method {method!r}; choose from {', '.join(METHODS)}")


#: ``cluster.refine`` value that relabels only the spots alone in their region among their first ring.
ISOLATED = "isolated"


def refine_labels(
    labels: np.ndarray, coords: np.ndarray, refine: int | str, sections: np.ndarray | None = None
) -> np.ndarray:
    """The regions after ``cluster.refine``: ``labels`` cleaned by the spots' neighbours.

    ``isolated`` (the default): a spot none of whose first-ring neighbours (the lattice's
    ring, :func:`~senca_st.method.neighbourhood.ring_size`: 4 on ST, 6 on Visium) shares its
    region takes their commonest region.  A tissue region is contiguous, so a spot alone in
    its region is the mixture's error far more often than a region of one spot: on the
    defaults' embeddings it lifts 22 of 30 runs, lowers 5 (HER2ST A1-D1 and DLPFC, 5 seeds;
    docs/benchmarks.md "Lone spots"), and it needs no setting.  A region at least half of
    whose spots are lone is a pattern scattered over the tissue (a cell type dispersed
    through it), not a region with strays, and keeps its spots: no region is emptied.
    ``N`` > 0: GraphST's ``refine_label`` (its tutorial: 50 nearest on Visium, none on legacy
    ST): every spot takes the commonest region among its ``N`` nearest.  It smooths a region's
    edge and also erases a region narrower than the neighbourhood.  0: ``labels`` unchanged.
    The spot itself is never counted; a tie goes to the region met first, nearest spot first.
    ``sections``: each spot's section in a group, whose spots are refined within their own
    section only.  A section of ``N`` spots or fewer uses all its other spots.
    """
    labels = np.asarray(labels)
    if refine == 0 or len(labels) < 2:
        return labels
    if refine != ISOLATED and (not isinstance(refine, (int, np.integer)) or refine < 0):
        raise ValueError(f"cluster.refine must be {ISOLATED}, 0 or a number of nearest spots, got {refine!r}")
    coords = np.asarray(coords, dtype=np.float64)
    if sections is not None:
        out = labels.copy()
        for name in np.unique(sections):
            rows = np.flatnonzero(sections == name)
            out[rows] = refine_labels(labels[rows], coords[rows], refine)
        return out
    values, ids = np.unique(labels, return_inverse=True)
    ids = ids.reshape(-1)
    n = ring_size(coords) if refine == ISOLATED else int(refine)
    near = ids[nearest_spots(coords, min(n, len(ids) - 1))]  # (spots, m), nearest first
    if refine != ISOLATED:
        return values[_commonest(near, len(values))]
    lone = ~(near == ids[:, None]).any(axis=1)
    # a region mostly of lone spots is a pattern scattered over the tissue, not strays: kept whole
    scattered = np.bincount(ids, weights=lone, minlength=len(values)) * 2 >= np.bincount(ids, minlength=len(values))
    move = lone & ~scattered[ids]
    out = ids.copy()
    out[move] = _commonest(near[move], len(values))  # only the spots that move are counted
    return values[out]


def _commonest(near: np.ndarray, n_values: int) -> np.ndarray:
    """Each row's commonest value of 0..n_values-1, a tie to the one met first: a count per row and value, O(rows x m)."""
    spots, m = near.shape
    counts = np.zeros((spots, n_values), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(spots), m), near.reshape(-1)), 1)
    first = np.full((spots, n_values), m, dtype=np.int64)
    for j in range(m - 1, -1, -1):  # the last write is the nearest spot holding the value
        first[np.arange(spots), near[:, j]] = j
    return np.argmax(counts * (m + 1) - first, axis=1)
