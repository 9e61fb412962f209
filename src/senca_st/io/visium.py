"""10x Visium sections from a Space Ranger ``outs/`` folder (1.x, 2.x and Visium HD binnings)."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.errors import InputError
from senca_st.io.labels import attach_labels, read_barcode_labels
from senca_st.io.reading import contract_anndata, numeric_columns, read_table


#: Visium HD bin sizes (µm) Space Ranger writes under ``binned_outputs/square_{bin:03d}um/``.
HD_BINS = (2, 8, 16)


def visium_folder(outs: str | Path, bin_um: int | str | None = None) -> Path:
    """The folder holding a section's matrix and ``spatial/``: ``outs/`` itself, or a Visium HD binning's.

    Visium HD writes one folder per bin size (``binned_outputs/square_008um/``,
    ``square_016um/``, each with ``filtered_feature_bc_matrix.h5`` and
    ``spatial/``); ``bin_um`` picks it.  Standard Visium and CytAssist keep
    them in ``outs/``.
    """
    outs = Path(outs)
    if not bin_um:
        return outs
    folder = outs / "binned_outputs" / f"square_{int(bin_um):03d}um"
    if not folder.is_dir():
        present = sorted(p.name for p in (outs / "binned_outputs").glob("square_*um")) if (outs / "binned_outputs").is_dir() else []
        raise InputError(
            outs,
            f"has no Visium HD binning binned_outputs/square_{int(bin_um):03d}um"
            + (f" (it has {', '.join(present)})" if present else " (no binned_outputs/ folder: not a Visium HD run)"),
            "Set bin_um to a bin size Space Ranger wrote, or leave it empty for standard Visium.",
        )
    return folder


def _visium_positions(spatial_dir: Path) -> pd.DataFrame:
    """Spot (or HD bin) positions from whichever file this Space Ranger version wrote.

    ``tissue_positions.parquet`` (Visium HD bins), ``tissue_positions.csv``
    (Space Ranger 2.0+, header row; also CytAssist) or ``tissue_positions_list.csv``
    (1.x, no header): same six columns.
    """
    parquet = spatial_dir / "tissue_positions.parquet"
    new, old = spatial_dir / "tissue_positions.csv", spatial_dir / "tissue_positions_list.csv"
    cols = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
    header_lines: int | None = 1
    if parquet.exists():
        source, header_lines = parquet, None
        try:
            df = pd.read_parquet(parquet)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise InputError(parquet, f"cannot be read as Parquet ({err})", "Copy Space Ranger's file again.") from err
    elif new.exists():
        source, df = new, read_table(new, "tissue positions", sep=",")
    elif old.exists():
        source, header_lines = old, 0
        df = read_table(old, "tissue positions", sep=",", header=None, names=cols)
    else:
        raise InputError(
            spatial_dir,
            "no tissue_positions.parquet, tissue_positions.csv or tissue_positions_list.csv",
            "Point visium_dir at a Space Ranger outs/ folder (for Visium HD, also set bin_um).",
        )
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(source, f"lacks column(s) {', '.join(missing)}", "Use Space Ranger's file unchanged.")
    df = numeric_columns(df, cols[1:], source, "tissue positions file", header_lines)
    df["barcode"] = df["barcode"].astype(str)
    return df.set_index("barcode")


#: Entries of a matrix's gene indices checked at a time: bounds the check's memory on Visium HD's
#: 2 µm bins (hundreds of millions of entries), where scanpy reads the whole array next anyway.
INDEX_CHUNK = 1 << 24


def _indices_within(indices, n_genes: int) -> bool:
    """Whether every entry of the h5py dataset ``indices`` lies in 0..n_genes-1, read in chunks."""
    for start in range(0, indices.shape[0], INDEX_CHUNK):
        block = indices[start : start + INDEX_CHUNK]
        if block.min() < 0 or block.max() >= n_genes:
            return False
    return True


def _check_sparse_matrix(h5: Path) -> None:
    """Refuse a 10x HDF5 matrix whose compressed-sparse arrays disagree before scanpy builds it.

    scanpy hands ``data``/``indices``/``indptr`` to SciPy unchecked, and SciPy
    indexes a matrix with out-of-range entries out of bounds (a crash of the
    whole process, not an exception), so a damaged copy is caught here.
    """
    import h5py

    with h5py.File(h5, "r") as f:
        m = f["matrix"]
        n_genes, n_barcodes = (int(v) for v in m["shape"][()])
        data, indices, indptr = m["data"], m["indices"], m["indptr"][()]
        n_entries = indices.shape[0] if indices.ndim == 1 else -1
        problem = None
        if indptr.ndim != 1 or indptr.size != n_barcodes + 1:
            problem = f"indptr has {indptr.size} entries for {n_barcodes} barcodes"
        elif indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != n_entries:
            problem = "indptr does not run from 0 up to the number of entries"
        elif data.shape != indices.shape:
            problem = f"data has {data.shape[0]} entries and indices {n_entries}"
        elif not _indices_within(indices, n_genes):
            problem = f"a gene index lies outside 0..{n_genes - 1}"
        elif len(m["barcodes"]) != n_barcodes or len(m["features"]["id"]) != n_genes:
            problem = "barcodes or features do not match the matrix shape"
    if problem:
        raise InputError(h5, f"is a damaged 10x HDF5 matrix: {problem}", "Re-copy it from Space Ranger's output.")


def read_visium_section(outs: str | Path, labels: str | Path | None = None, bin_um: int | str | None = None) -> ad.AnnData:
    """A 10x Visium Space Ranger ``outs/`` folder as AnnData (spots, or Visium HD bins, under tissue).

    Coordinates stay in full-resolution pixels; which image the patches come
    from (full-resolution or the hires PNG with its scale factor) is the tiling
    step's business, see :func:`senca_st.io.section_image.visium_image`.  ``bin_um``: the Visium HD
    binning to read (:func:`visium_folder`).
    """
    import scanpy as sc

    outs = visium_folder(outs, bin_um)
    h5 = outs / "filtered_feature_bc_matrix.h5"
    if not h5.exists():
        raise InputError(h5, "file not found", "Point visium_dir at a Space Ranger outs/ folder.")
    try:
        _check_sparse_matrix(h5)
        adata = sc.read_10x_h5(h5)
    except InputError:
        raise
    except Exception as err:  # h5py raises several types for corrupt files
        raise InputError(h5, f"cannot be read as a 10x HDF5 matrix ({err})", "Re-copy it from Space Ranger's output.") from err
    adata.var_names_make_unique()
    pos = _visium_positions(outs / "spatial")
    pos = pos[pos["in_tissue"] == 1]
    shared = adata.obs_names.intersection(pos.index)
    if len(shared) == 0:
        raise InputError(outs / "spatial", "no barcode of the matrix is under tissue in the positions file", "Check both files come from one run.")
    adata = adata[shared].copy()
    p = pos.loc[shared]
    out = contract_anndata(
        adata.X,
        adata.obs_names,
        adata.var_names,
        p[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(),
        p[["array_row", "array_col"]].to_numpy(),
    )
    if labels is not None:
        attach_labels(out, read_barcode_labels(labels))
    return out
