"""AnnData ``.h5ad`` sections: what scanpy and squidpy users already have."""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from senca_st.errors import InputError
from senca_st.io.labels import label_text, attach_labels, read_barcode_labels, warn_few_regions
from senca_st.io.reading import contract_anndata, refuse_repeats

LOG = logging.getLogger("senca_st")


def read_h5ad_section(path: str | Path, label_key: str | None = None, labels: str | Path | None = None) -> ad.AnnData:
    """An AnnData ``.h5ad`` file (spots × genes) as the contract's AnnData.

    Raw counts come from ``layers['counts']`` when it holds raw counts, else
    from ``X`` (scanpy workflows often normalise ``X`` in place and keep the
    counts in a layer); positions from ``obsm['spatial']`` (x, y pixels);
    labels from the ``obs`` column ``label_key`` (missing values are
    unlabelled spots, ``undetermined``) or from a ``barcode label`` file.  Array
    positions are kept where ``obs`` has integer ``array_row``/``array_col``.
    Spots without a finite position cannot be placed and are left out with a
    warning, by the same rule as label rows.
    """
    path = Path(path)
    src = _read_anndata(path)
    if src.n_obs == 0 or src.n_vars == 0:
        raise InputError(path, f"holds an empty matrix ({src.n_obs} spots, {src.n_vars} genes)", "Write the section with its spots and genes.")
    if label_key and label_key not in src.obs.columns:
        columns = ", ".join(map(repr, src.obs.columns)) or "none"
        raise InputError(
            path,
            f"label_key {label_key!r} is not a column of obs (its columns: {columns})",
            "Set label_key in the sample sheet to the obs column holding the regions, or leave it empty to run unlabelled.",
        )
    refuse_repeats(
        src.obs_names,
        path,
        "has {n} duplicated spot name(s) in obs_names",
        "Each spot needs its own name: call adata.obs_names_make_unique() and write the file again.",
    )
    coords = _h5ad_positions(src, path)
    counts = _h5ad_counts(src, path)
    keep = np.isfinite(coords).all(axis=1)
    if not keep.any():
        raise InputError(
            path,
            f"none of the {src.n_obs} spots has a finite position in obsm['spatial'] (all NaN or infinite)",
            "Store each spot's x, y pixel position in obsm['spatial'].",
        )
    if not keep.all():
        first = int(np.argmin(keep))
        LOG.warning(
            "%s: %d of %d spot(s) cannot be placed (NaN or infinite obsm['spatial']) and are left out; the first is spot %s (row %d of obs)",
            path, int((~keep).sum()), src.n_obs, src.obs_names[first], first + 1,
        )
    var_names = pd.Index(src.var_names.astype(str))
    if var_names.has_duplicates:
        LOG.info("%s: %d duplicated gene name(s) made unique (e.g. %s)", path, int(var_names.duplicated().sum()), var_names[var_names.duplicated()][0])
        var_names = pd.Index(ad.utils.make_index_unique(var_names))
    array_rc = _h5ad_array_positions(src.obs)
    out = contract_anndata(
        sp.csr_matrix(counts)[keep],  # dense or CSC in the file: rows are spots either way
        src.obs_names[keep],
        var_names,
        coords[keep],
        None if array_rc is None else array_rc[keep],
    )
    if label_key:
        out.obs["label"] = label_text(src.obs[label_key][keep]).to_numpy()
        warn_few_regions(out, f"{path} obs[{label_key!r}]")
    elif labels is not None:
        attach_labels(out, read_barcode_labels(labels))
    return out


def _read_anndata(path: Path) -> ad.AnnData:
    """Open ``path`` as AnnData, telling apart a missing file, a non-HDF5 file and an HDF5 file that is not AnnData."""
    import h5py

    if not path.exists():
        raise InputError(path, "AnnData file not found", "Check the path in the sample sheet's h5ad column.")
    if path.is_dir():
        raise InputError(path, "is a directory, not an .h5ad file", "Point the h5ad column at the file (a .zarr store: write it with adata.write_h5ad).")
    if not h5py.is_hdf5(path):
        with path.open("rb") as fh:
            head = fh.read(512)
        looks = ""
        if not head:
            looks = " (the file is empty)"
        elif b"\0" not in head:
            looks = " (it looks like a text file)"
        raise InputError(path, f"is not an AnnData (.h5ad) file: it is not HDF5{looks}", "Write the section with anndata's adata.write_h5ad(...).")
    try:
        with h5py.File(path, "r") as fh:
            keys = sorted(fh.keys())
            encoding = fh.attrs.get("encoding-type", "")
    except OSError as err:
        raise InputError(path, f"cannot be read as HDF5 ({err})", "Copy the file again; it may be truncated.") from err
    encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
    if encoding != "anndata" and not {"obs", "var"} <= set(keys):
        tenx = "; it looks like a 10x matrix: use dataset visium with its outs/ folder" if "matrix" in keys else ""
        raise InputError(
            path,
            f"is an HDF5 file but not an AnnData (.h5ad) file: it holds {', '.join(keys) or 'nothing'}, no obs and var{tenx}",
            "Write the section with anndata's adata.write_h5ad(...).",
        )
    try:
        return ad.read_h5ad(path)
    except Exception as err:  # anndata/h5py raise many types for damaged files
        raise InputError(path, f"cannot be read as AnnData ({type(err).__name__}: {err})", "Write it again with adata.write_h5ad, or copy it again.") from err


def _count_problem(matrix) -> str | None:
    """Why ``matrix`` does not hold raw counts (None where it does): raw counts are finite whole numbers >= 0."""
    if matrix is None:
        return "is absent"
    values = matrix.data if sp.issparse(matrix) else np.asarray(matrix)
    if values.dtype.kind not in "biuf":
        return f"holds {values.dtype} values, not numbers"
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            return f"has NaN or infinite values ({int(bad.sum())})"
    negative = values < 0
    if negative.any():
        return f"has negative values (e.g. {values[negative].flat[0]:g}), as scaled or centred data do"
    if values.dtype.kind == "f":
        fraction = values != np.round(values)
        if fraction.any():
            return f"has non-integer values (e.g. {values[fraction].flat[0]:.4g}), as normalised or log counts do"
    return None


def _h5ad_counts(src: ad.AnnData, path: Path):
    """Raw counts: ``layers['counts']`` when it holds them, else ``X``; an error naming what is wrong with each."""
    problems = {}
    for name, matrix in (("layers['counts']", src.layers.get("counts")), ("X", src.X)):
        problem = _count_problem(matrix)
        if problem is None:
            if problems.get("layers['counts']") not in (None, "is absent"):
                LOG.warning("%s: layers['counts'] %s; reading the raw counts from X", path, problems["layers['counts']"])
            return matrix
        problems[name] = problem
    found = "; ".join(f"{name} {problem}" for name, problem in problems.items() if name == "X" or problem != "is absent")
    lacks = ", and there is no layers['counts']" if problems["layers['counts']"] == "is absent" else ""
    raise InputError(
        path,
        f"holds no raw counts: {found}{lacks}",
        "Give raw counts (whole numbers >= 0) in X or layers['counts']: the matrix before sc.pp.normalize_total and log1p.",
    )


def _h5ad_positions(src: ad.AnnData, path: Path) -> np.ndarray:
    """``obsm['spatial']`` as (n, 2) float64 x, y; NaN rows are kept (the caller leaves them out)."""
    if "spatial" not in src.obsm:
        keys = ", ".join(map(repr, src.obsm.keys())) or "nothing"
        raise InputError(
            path,
            f"has no obsm['spatial'] (the spot positions); its obsm holds {keys}",
            "Store each spot's x, y pixel position in obsm['spatial'] (e.g. adata.obsm['spatial'] = adata.obsm['X_spatial']).",
        )
    raw = src.obsm["spatial"]
    try:
        xy = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(path, f"obsm['spatial'] is not numeric ({err})", "Store the x, y pixel positions as numbers.") from err
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise InputError(path, f"obsm['spatial'] has shape {xy.shape}; it needs an x and a y per spot", "Store an (n_spots, 2) array of x, y pixel positions.")
    return xy[:, :2]


def _h5ad_array_positions(obs: pd.DataFrame) -> np.ndarray | None:
    """``obs['array_row', 'array_col']`` as integers, or None where absent or not whole numbers."""
    if not {"array_row", "array_col"} <= set(obs.columns):
        return None
    rc = obs[["array_row", "array_col"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(rc).all() or (rc != np.round(rc)).any():
        return None
    return rc.astype(np.int64)
