"""Read one tissue section into an AnnData with spots, counts, coordinates and labels.

Three layouts reach the pipeline: HER2ST/legacy ST (a ``{x}x{y}``-indexed count
table, a spot file mapping array positions to pixels, a pathologist label
file), 10x Visium Space Ranger ``outs/`` folders, and the embedded demo (which
is written in the ST layout so it exercises the same reader).  Whatever the
source, the result follows one contract (docs/ARCHITECTURE.md): raw counts in
``X`` and ``layers['counts']``, full-resolution pixel coordinates in
``obsm['spatial']``, ``obs['array_row', 'array_col']`` and, when a label file
exists, ``obs['label']``.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")

UNDETERMINED = "undetermined"
SPOT_COLUMNS = ("x", "y", "pixel_x", "pixel_y")


def _read_table(path: Path, what: str, min_columns: int = 2, **kwargs) -> pd.DataFrame:
    """Read a tab-separated table, turning every parse failure into an InputError naming ``path``."""
    if not path.exists():
        raise InputError(path, f"{what} file not found", "Check the path in the sample sheet or rerun the download.")
    if path.is_dir():
        raise InputError(path, f"is a directory, not a {what} file", "Point the sample sheet at the file itself.")
    try:
        df = pd.read_csv(path, sep="\t", **kwargs)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise InputError(path, f"{what} file is truncated or not valid gzip ({err})", "Download or copy it again.") from err
    except pd.errors.EmptyDataError:
        raise InputError(path, f"{what} file is empty", "Download or copy it again.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"{what} file is not a tab-separated table ({err})", "Re-export it as TSV.") from err
    except OSError as err:
        raise InputError(path, f"{what} file cannot be read ({err})", "Check the file and its permissions, or copy it again.") from err
    n_columns = df.shape[1] + (1 if kwargs.get("index_col") is not None else 0)
    if df.shape[1] < min_columns or n_columns < 2:
        first = str(df.index.name if kwargs.get("index_col") is not None and df.index.name else (df.columns[0] if len(df.columns) else ""))
        looks = "; it looks comma-separated" if "," in first else ("; it looks space-separated" if " " in first.strip() else "")
        raise InputError(
            path,
            f"{what} file has {n_columns} column(s){looks}; columns must be separated by tabs",
            "Re-export it as TSV.",
        )
    return df


def _header(path: Path) -> list[str]:
    """The first line's fields as written (pandas renames duplicated names to ``name.1``)."""
    row = pd.read_csv(path, sep="\t", header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(v) for v in row.iloc[0].tolist()]


def read_st_counts(path: str | Path) -> pd.DataFrame:
    """Spot × gene count table of the legacy ST layout (rows ``{x}x{y}``)."""
    path = Path(path)
    df = _read_table(path, "count matrix", min_columns=1, index_col=0)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(path, f"count matrix has {df.shape[0]} spots and {df.shape[1]} genes", "It must not be empty.")
    genes = pd.Index(_header(path)[1:])
    if len(genes) == df.shape[1]:
        dup = genes[genes.duplicated()].unique()
        if len(dup):
            raise InputError(
                path,
                f"count matrix has {len(dup)} duplicated gene name(s), e.g. {dup[0]!r}",
                "Make gene names unique (sum or drop the duplicates).",
            )
        df.columns = genes
    df.index = df.index.astype(str)
    dup_spots = df.index[df.index.duplicated()].unique()
    if len(dup_spots):
        raise InputError(
            path,
            f"count matrix has {len(dup_spots)} duplicated spot id(s), e.g. {dup_spots[0]!r}",
            "Each spot must have one row; remove the duplicates.",
        )
    # Columns pandas did not parse as numbers hold text somewhere; coerce only those.
    text_cols = [i for i, dt in enumerate(df.dtypes) if not pd.api.types.is_numeric_dtype(dt)]
    numeric = df.copy() if text_cols else df
    for i in text_cols:
        numeric.isetitem(i, pd.to_numeric(df.iloc[:, i], errors="coerce"))
    values = numeric.to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raw = df.iat[r, c]
        what = "an empty cell" if pd.isna(raw) else f"a non-numeric value {raw!r}"
        raise InputError(
            path,
            f"count matrix has {what} at spot {df.index[r]!r}, gene {df.columns[c]!r} ({int(bad.sum())} such cell(s))",
            "Counts must be non-negative numbers.",
        )
    if (values < 0).any():
        r, c = np.argwhere(values < 0)[0]
        raise InputError(
            path,
            f"count matrix has a negative count {values[r, c]:g} at spot {df.index[r]!r}, gene {df.columns[c]!r} "
            f"({int((values < 0).sum())} negative cell(s))",
            "Counts must be non-negative numbers: give raw counts, not normalised or log values.",
        )
    return pd.DataFrame(values, index=df.index, columns=df.columns)


def _numeric_columns(df: pd.DataFrame, columns, path: Path, what: str) -> pd.DataFrame:
    """``columns`` of ``df`` as numbers; an InputError naming the first bad line and column."""
    df = df.copy()
    for col in columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.astype(float))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raw = df[col].iloc[i]
            shown = "n/a" if pd.isna(raw) else repr(raw)
            raise InputError(
                path,
                f"{what} has an empty or non-numeric {col} ({shown}) on line {i + 2} ({int(bad.sum())} such row(s))",
                f"Every row needs numeric {', '.join(columns)}.",
            )
        df[col] = values
    return df


def read_st_spots(path: str | Path) -> pd.DataFrame:
    """Spot file: array position ``x, y`` → full-resolution ``pixel_x, pixel_y``, under tissue only."""
    path = Path(path)
    df = _read_table(path, "spot file")
    missing = [c for c in SPOT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            path,
            f"spot file lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})",
            "It needs x, y, pixel_x, pixel_y and optionally selected.",
        )
    df = _numeric_columns(df, SPOT_COLUMNS, path, "spot file")
    if "selected" in df.columns:
        df = df[pd.to_numeric(df["selected"], errors="coerce") == 1]
        if df.empty:
            raise InputError(path, "spot file has no spot with selected = 1 (no spot under tissue)", "Check the selected column.")
    df = df.copy()
    df["spot"] = df["x"].round().astype(int).astype(str) + "x" + df["y"].round().astype(int).astype(str)
    return df.drop_duplicates("spot").set_index("spot")


def read_st_labels(path: str | Path) -> pd.Series:
    """Pathologist labels by spot id; label-file ``x, y`` are adjusted array coordinates, rounded to match."""
    path = Path(path)
    df = _read_table(path, "label file")
    missing = [c for c in ("x", "y", "label") if c not in df.columns]
    if missing:
        raise InputError(path, f"label file lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})", "It needs x, y and label.")
    if df.empty:
        raise InputError(path, "label file has a header but no labelled spots", "Fill it in, or write 'none' in the sample sheet's labels column.")
    df = _numeric_columns(df, ("x", "y"), path, "label file")
    spot = df["x"].round().astype(int).astype(str) + "x" + df["y"].round().astype(int).astype(str)
    text = df["label"].astype("string").str.strip().fillna("").replace("", UNDETERMINED)
    labels = pd.Series(text.astype(str).to_numpy(), index=spot.to_numpy(), name="label")
    return labels[~labels.index.duplicated()]


def _attach_labels(adata: ad.AnnData, labels: pd.Series | None, path: str | Path | None) -> None:
    """Put labels on the spots; spots the file does not name are ``undetermined``."""
    if labels is None:
        return
    matched = labels.index.isin(adata.obs_names)
    if matched.sum() == 0:
        raise InputError(
            path,
            f"none of the {len(labels)} labelled spots (e.g. {labels.index[0]}) match one of the {adata.n_obs} spots "
            f"of the section (e.g. {adata.obs_names[0]})",
            "Check that the label file belongs to this section.",
        )
    if (~matched).any():
        LOG.warning(
            "%s: %d of %d labelled spot(s) are not spots of the section (e.g. %s) and are ignored",
            path, int((~matched).sum()), len(labels), labels.index[~matched][0],
        )
    adata.obs["label"] = labels.reindex(adata.obs_names).fillna(UNDETERMINED).astype(str).to_numpy()
    regions = sorted(set(adata.obs["label"]) - {UNDETERMINED})
    if len(regions) < 2:
        LOG.warning(
            "%s: only %d annotated region(s) (%s); ARI and NMI are not informative for this section, "
            "and the number of regions to find comes from n_clusters or cluster.default_n_clusters",
            path, len(regions), ", ".join(regions) or "none",
        )


def _to_anndata(
    counts: sp.spmatrix, spots: pd.Index, genes: pd.Index, coords: np.ndarray, array_rc: np.ndarray
) -> ad.AnnData:
    """Assemble the contract's AnnData; counts stay sparse (Visium sections have ~30k genes)."""
    X = sp.csr_matrix(counts, dtype=np.float32)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=spots.astype(str)), var=pd.DataFrame(index=genes.astype(str)))
    adata.layers["counts"] = X.copy()
    adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    adata.obs["array_row"] = np.asarray(array_rc[:, 0], dtype=np.int64)
    adata.obs["array_col"] = np.asarray(array_rc[:, 1], dtype=np.int64)
    return adata


def read_st_section(
    counts: str | Path, spots: str | Path, labels: str | Path | None = None
) -> ad.AnnData:
    """A legacy-ST section (HER2ST, cSCC, the demo) as AnnData, restricted to spots under tissue."""
    table = read_st_counts(counts)
    spot_df = read_st_spots(spots)
    shared = table.index.intersection(spot_df.index)
    if len(shared) == 0:
        raise InputError(
            spots,
            f"none of the {len(spot_df)} spot ids (e.g. {spot_df.index[0] if len(spot_df) else '-'}) match the "
            f"{len(table)} count rows (e.g. {table.index[0]}) of {counts}",
            "Check that the spot file and the count matrix are of the same section.",
        )
    if len(shared) < len(table) / 2:
        LOG.warning(
            "%s: only %d of %d count rows match a spot under tissue in %s; check the two files are of one section",
            counts, len(shared), len(table), spots,
        )
    elif len(shared) < len(table):
        LOG.info("%s: %d of %d count rows have a spot under tissue in %s", counts, len(shared), len(table), spots)
    table = table.loc[shared]
    s = spot_df.loc[shared]
    adata = _to_anndata(
        sp.csr_matrix(table.to_numpy(dtype=np.float32)),
        table.index,
        table.columns,
        s[["pixel_x", "pixel_y"]].to_numpy(),
        s[["y", "x"]].round().to_numpy(),
    )
    if labels is not None:
        _attach_labels(adata, read_st_labels(labels), labels)
    return adata


def _visium_positions(spatial_dir: Path) -> pd.DataFrame:
    new, old = spatial_dir / "tissue_positions.csv", spatial_dir / "tissue_positions_list.csv"
    cols = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
    if new.exists():
        df = pd.read_csv(new)
    elif old.exists():
        df = pd.read_csv(old, header=None, names=cols)
    else:
        raise InputError(spatial_dir, "no tissue_positions.csv or tissue_positions_list.csv", "Point visium_dir at a Space Ranger outs/ folder.")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(new if new.exists() else old, f"lacks column(s) {', '.join(missing)}", "Use Space Ranger's file unchanged.")
    return df.set_index("barcode")


def read_visium_section(outs: str | Path, labels: str | Path | None = None) -> ad.AnnData:
    """A 10x Visium Space Ranger ``outs/`` folder as AnnData (spots under tissue).

    Coordinates stay in full-resolution pixels; which image the patches come
    from (full-resolution or the hires PNG with its scale factor) is the tiling
    step's business, see :func:`visium_image`.
    """
    import scanpy as sc

    outs = Path(outs)
    h5 = outs / "filtered_feature_bc_matrix.h5"
    if not h5.exists():
        raise InputError(h5, "file not found", "Point visium_dir at a Space Ranger outs/ folder.")
    try:
        adata = sc.read_10x_h5(h5)
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
    out = _to_anndata(
        adata.X,
        adata.obs_names,
        adata.var_names,
        p[["pxl_col_in_fullres", "pxl_row_in_fullres"]].to_numpy(),
        p[["array_row", "array_col"]].to_numpy(),
    )
    if labels is not None:
        df = _read_table(Path(labels), "label file")
        if "label" not in df.columns:
            raise InputError(labels, "label file lacks a 'label' column", "It needs a barcode column and a label column.")
        lab = pd.Series(df["label"].astype(str).to_numpy(), index=df.iloc[:, 0].astype(str))
        _attach_labels(out, lab, labels)
    return out


def visium_image(outs: str | Path, image: str | Path | None) -> tuple[Path, float]:
    """The image to cut patches from and the factor mapping full-resolution pixels onto it.

    A user-named full-resolution image is used as is (factor 1); otherwise the
    hires PNG Space Ranger always writes, scaled by ``tissue_hires_scalef``.
    """
    outs = Path(outs)
    if image:
        return Path(image), 1.0
    sf_path = outs / "spatial" / "scalefactors_json.json"
    try:
        scale = float(json.loads(sf_path.read_text())["tissue_hires_scalef"])
    except FileNotFoundError:
        raise InputError(sf_path, "file not found", "Name the full-resolution image in the sample sheet's image column.") from None
    except (KeyError, ValueError) as err:
        raise InputError(sf_path, f"has no usable tissue_hires_scalef ({err})", "Use Space Ranger's file unchanged.") from err
    return outs / "spatial" / "tissue_hires_image.png", scale
