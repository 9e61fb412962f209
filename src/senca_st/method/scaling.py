"""Column-wise standardisation, shared by the model's inputs and a group's per-section expression."""

from __future__ import annotations

import numpy as np


def standardised(a: np.ndarray) -> np.ndarray:
    """Each column centred on its mean and scaled to unit variance, float32; a constant column becomes 0.

    A column with no spread is left unscaled rather than divided by zero: a gene
    that one section of a group does not express, or a ResNet feature that no
    patch activates, carries no signal and stays at 0 after centring.
    """
    a = np.asarray(a, dtype=np.float32)
    sd = a.std(axis=0)
    return (a - a.mean(axis=0)) / np.where(sd > 0, sd, 1.0).astype(np.float32)
