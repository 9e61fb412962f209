"""The spot graph: each spot linked to its k nearest spots on the tissue.

SENCA-st connects every spot to its k spatially nearest spots (k=4 in the
paper, the best of 4/8/16).  PyG's ``knn_graph`` needs pyg-lib, which is not on
PyPI, so the graph is built with scikit-learn's BallTree; the result is a PyG
style ``edge_index`` that the graph transformer and the neighbourhood
cross-attention both consume.
"""

from __future__ import annotations

import numpy as np
from sklearn.neighbors import BallTree


def nearest_spots(coords: np.ndarray, k: int) -> np.ndarray:
    """Indices of each spot's ``k`` nearest other spots, shape ``(n_spots, k)``.

    Ties are broken by BallTree's stable ordering, so the graph is
    deterministic for a given coordinate array.
    """
    coords = np.asarray(coords, dtype=np.float64)
    n = coords.shape[0]
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n <= k:
        raise ValueError(f"a graph with k={k} neighbours needs more than {k} spots, got {n}")
    tree = BallTree(coords)
    _, idx = tree.query(coords, k=k + 1)
    # Column 0 is normally the spot itself; drop self wherever it appears
    # (duplicated coordinates can put another spot first).
    out = np.empty((n, k), dtype=np.int64)
    for i in range(n):
        row = idx[i][idx[i] != i][:k]
        out[i] = row
    return out


def spot_spacing(coords: np.ndarray) -> float:
    """Median centre-to-centre distance between a spot and its nearest neighbour.

    The lattice pitch (about 100 µm for ST, 100 µm for Visium) in pixel units;
    patch sizes are derived from it so they adapt to any image resolution.
    """
    nbrs = nearest_spots(coords, 1)[:, 0]
    d = np.linalg.norm(np.asarray(coords, dtype=np.float64) - np.asarray(coords, dtype=np.float64)[nbrs], axis=1)
    return float(np.median(d))
