"""Atomic writers for the pipeline's file formats (h5ad, TSV, NumPy).

Thin wrappers over :func:`senca_st.io.atomic.atomic_path` so no script writes an
output in place: a killed job leaves either the old file or none.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from senca_st.io.atomic import atomic_path

if TYPE_CHECKING:  # not at run time: the image_features env has neither (tests/test_envs.py)
    import anndata as ad
    import pandas as pd


def dense(matrix: object) -> np.ndarray:
    """A matrix as a dense array: AnnData keeps ``X`` and layers sparse or dense as they were read or computed."""
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)


def read_preprocessed(path: str | Path) -> tuple[ad.AnnData, np.ndarray, np.ndarray]:
    """A section's ``preprocessed.h5ad``: the AnnData, its expression (dense) and its spot coordinates.

    Refused, naming the file, when it has no ``obsm['spatial']``: training and the image gate
    both need where each spot is.
    """
    import anndata as ad

    from senca_st.errors import InputError

    adata = ad.read_h5ad(path)
    if "spatial" not in adata.obsm:
        raise InputError(str(path), "has no obsm['spatial'] coordinates", "Re-run the preprocess rule.")
    return adata, dense(adata.X), np.asarray(adata.obsm["spatial"])


def read_image_features(path: str | Path, n_spots: int, preprocessed: str | Path) -> np.ndarray:
    """A section's ``image_features.npy``, refused with both files named when its rows are not its spots."""
    from senca_st.errors import InputError

    feats = np.load(path)
    if feats.shape[0] != n_spots:
        raise InputError(
            str(path), f"has {feats.shape[0]} rows but {preprocessed} has {n_spots} spots", "Re-run image_features for this section."
        )
    return feats


def write_h5ad(adata: ad.AnnData, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        adata.write_h5ad(tmp, compression="gzip")


def write_tsv(df: pd.DataFrame, dest: str | Path, index: bool = False) -> None:
    with atomic_path(dest) as tmp:
        df.to_csv(tmp, sep="\t", index=index, float_format="%.6g")


def write_npy(array: np.ndarray, dest: str | Path) -> None:
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array)


def write_json(data: dict, dest: str | Path) -> None:
    import json

    with atomic_path(dest) as tmp:
        Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
