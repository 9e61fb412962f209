"""Agglomerative clustering of a spot embedding into regions.

Ward linkage on the embedding, as in the paper; how many regions comes from the
sample sheet or, by default, from the pathologist's annotation.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from senca_st.errors import InputError


def cluster_spots(embedding: np.ndarray, n_clusters: int, source: str = "") -> np.ndarray:
    """Ward agglomerative clusters (0..n_clusters-1) for each spot."""
    n = embedding.shape[0]
    if n_clusters < 2:
        raise InputError(source or None, f"n_clusters is {n_clusters}", "Ask for at least 2 regions in the sample sheet.")
    if n < n_clusters:
        raise InputError(
            source or None,
            f"{n} spots cannot form {n_clusters} regions",
            "Lower n_clusters in the sample sheet.",
        )
    model = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward")
    return model.fit_predict(np.asarray(embedding, dtype=np.float64)).astype(np.int64)
