"""Baseline embeddings the model is measured against.

``rna_pca`` (PCA of the HVG expression), ``image_only`` (PCA of the frozen
ResNet patch features) and ``concat`` (both, each block scaled to unit total
variance so neither dominates) show what fusing by plain concatenation gives,
which is what SENCA-st's cross-attention has to beat.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from senca_st.method.scaling import standardised


def pca_embedding(X: np.ndarray, n_components: int, seed: int = 0) -> np.ndarray:
    """Standardise features, then PCA; components capped by the data's rank."""
    X = np.asarray(X, dtype=np.float64)
    n = min(n_components, X.shape[0] - 1, X.shape[1])
    Z = standardised(X, dtype=np.float64)
    return PCA(n_components=n, random_state=seed).fit_transform(Z).astype(np.float32)


def _unit_variance(block: np.ndarray) -> np.ndarray:
    total = float(np.sqrt((block.var(axis=0)).sum())) or 1.0
    return block / total


def baseline_embedding(
    name: str, expression: np.ndarray | None, image_features: np.ndarray | None, n_components: int = 20, seed: int = 0
) -> np.ndarray:
    """The embedding of baseline ``name`` from the section's expression and/or image features."""
    if name == "rna_pca":
        return pca_embedding(expression, n_components, seed)
    if name == "image_only":
        return pca_embedding(image_features, n_components, seed)
    if name == "concat":
        rna = _unit_variance(pca_embedding(expression, n_components, seed))
        img = _unit_variance(pca_embedding(image_features, n_components, seed))
        return np.hstack([rna, img]).astype(np.float32)
    raise ValueError(f"unknown baseline {name!r}")
