"""Column-wise standardisation, shared by the model's inputs, the PCA baselines and a group's per-section expression."""

from __future__ import annotations

import numpy as np


def standardised(a: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Each column centred on its mean and scaled to unit variance, in ``dtype``; a constant column becomes 0.

    A column with no spread is left unscaled rather than divided by zero: a gene
    that one section of a group does not express, or a ResNet feature that no
    patch activates, carries no signal and stays at 0 after centring.  float32
    for the network's inputs; the PCA baselines standardise in float64 (the
    same numbers sklearn's StandardScaler gave them, bit for bit on HER2ST
    A1-D1 and DLPFC 151673).
    """
    a = np.asarray(a, dtype=dtype)
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0).astype(dtype)
