"""Read one tissue section into an AnnData with spots, counts, coordinates and labels.

Four layouts reach the pipeline: HER2ST/legacy ST (a ``{x}x{y}``-indexed count
table, a spot file mapping array positions to pixels, a pathologist label
file), 10x Visium Space Ranger ``outs/`` folders, AnnData ``.h5ad`` files (what
scanpy/squidpy users already have), and the embedded demo (which is written in
the ST layout so it exercises the same reader).  Whatever the source, the result
follows one contract (docs/ARCHITECTURE.md): raw counts in ``X`` and
``layers['counts']``, pixel coordinates in ``obsm['spatial']`` (full resolution
where the source has them), ``obs['array_row', 'array_col']`` where the source
has array positions (every reader but an ``.h5ad`` without them; nothing
downstream needs them) and, when there are labels, ``obs['label']``.

Label rows that cannot be placed on a spot (no position, or a position that is
no spot of the section) are a warning, not an error: real upstream files have
a few (HER2ST G2 has eight rows with ``NA`` coordinates), and the other rows
still evaluate the section.  Only a label source none of whose rows can be
placed is an error: it almost always belongs to another section.
"""

from __future__ import annotations

import gzip
import json
import logging
import zlib
from dataclasses import dataclass
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


def _refuse_repeats(names: pd.Index, path: Path, what: str, hint: str) -> None:
    """An InputError when ``names`` repeat (``what`` reads e.g. 'count matrix has {n} duplicated spot id(s)').

    A repeated spot would be counted twice and matched to labels at random; a
    repeated gene name makes the columns ambiguous.
    """
    dup = names[names.duplicated()].unique()
    if len(dup):
        raise InputError(path, f"{what.format(n=len(dup))}, e.g. {dup[0]!r}", hint)


def read_st_counts(path: str | Path) -> pd.DataFrame:
    """Spot × gene count table of the legacy ST layout (rows ``{x}x{y}``)."""
    path = Path(path)
    df = _read_table(path, "count matrix", min_columns=1, index_col=0)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(path, f"count matrix has {df.shape[0]} spots and {df.shape[1]} genes", "It must not be empty.")
    genes = pd.Index(_header(path)[1:])
    if len(genes) == df.shape[1]:
        _refuse_repeats(genes, path, "count matrix has {n} duplicated gene name(s)", "Make gene names unique (sum or drop the duplicates).")
        df.columns = genes
    df.index = df.index.astype(str)
    _refuse_repeats(df.index, path, "count matrix has {n} duplicated spot id(s)", "Each spot must have one row; remove the duplicates.")
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
    df["spot"] = _st_spot_ids(df["x"], df["y"])
    return _one_position_per_spot(df, path).set_index("spot")


def _st_spot_ids(x: pd.Series, y: pd.Series) -> pd.Series:
    """``{x}x{y}`` of the rounded array position: the row names of an ST count matrix."""
    return x.round().astype(int).astype(str) + "x" + y.round().astype(int).astype(str)


def _one_position_per_spot(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Drop exact repeats of a spot; refuse a spot id that the file places at two positions.

    Keeping either row silently would put the spot's counts (and its image
    patch) at a position the file itself contradicts.  ``df`` keeps the table's
    row index, so index + 2 is the line in the file.
    """
    dup = df["spot"].duplicated(keep=False)
    if not dup.any():
        return df
    distinct = df[dup].drop_duplicates(["spot", "pixel_x", "pixel_y"])
    conflicting = distinct["spot"][distinct["spot"].duplicated()].unique()
    if len(conflicting):
        spot = conflicting[0]
        a, b = (
            f"{row['pixel_x']:.12g}, {row['pixel_y']:.12g} on line {row.name + 2}"
            for _, row in distinct[distinct["spot"] == spot].iloc[:2].iterrows()
        )
        more = f" ({len(conflicting)} such spot ids)" if len(conflicting) > 1 else ""
        raise InputError(
            path,
            f"spot file gives spot {spot} (rounded x, y) two positions: pixel_x, pixel_y = {a} and {b}{more}",
            "Each spot under tissue needs one position: fix or delete one of the rows (or set its selected to 0).",
        )
    return df.drop_duplicates("spot")


@dataclass(frozen=True)
class LabelRows:
    """The rows of a label file, ready to be placed on a section's spots.

    ``spot`` is each row's spot id, NA where the row has no position (an ``NA``
    coordinate, an empty barcode); ``label`` its region (``undetermined`` where
    empty); ``table`` the file as read (same index, text as written) so that
    messages can show a row; ``no_position`` says what such a row lacks.
    """

    path: Path
    spot: pd.Series
    label: pd.Series
    table: pd.DataFrame
    no_position: str

    def line(self, i) -> int:
        """Line in the file of the row with index ``i`` (the header is line 1)."""
        return int(i) + 2

    def shown(self, i) -> str:
        """The row with index ``i`` as ``column=value`` pairs, ``NA`` for an empty or missing cell."""
        return ", ".join(f"{c}={'NA' if pd.isna(v) else v}" for c, v in self.table.loc[i].items())


def _label_text(values: pd.Series) -> pd.Series:
    """Region names as text; empty or missing cells are ``undetermined`` (left out of ARI)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if (numbers.dropna() == numbers.dropna().round()).all():
            values = numbers.astype("Int64")  # region 3, not "3.0"
    text = values.astype("string").str.strip().fillna("").replace("", UNDETERMINED)
    return text.astype(str)


def _read_label_table(path: Path, needs: tuple[str, ...], layout: str) -> pd.DataFrame:
    """A label file as text (so a row can be shown as written), with its ``needs`` columns checked."""
    df = _read_table(path, "label file", dtype=str)
    missing = [c for c in needs if c not in df.columns]
    if missing:
        raise InputError(
            path,
            f"label file lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})",
            f"It needs {layout}.",
        )
    if df.empty:
        raise InputError(path, "label file has a header but no labelled spots", "Fill it in, or write 'none' in the sample sheet's labels column.")
    return df


def read_st_labels(path: str | Path) -> LabelRows:
    """Pathologist labels of the ST layout; label-file ``x, y`` are adjusted array coordinates, rounded to match.

    A row whose ``x`` or ``y`` is empty, ``NA`` or not a number has no spot id
    (see :func:`_attach_labels` for what becomes of it).
    """
    path = Path(path)
    df = _read_label_table(path, ("x", "y", "label"), "x, y and label")
    xy = df[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    placed = np.isfinite(xy.to_numpy(dtype=np.float64)).all(axis=1)
    spot = pd.Series(pd.NA, index=df.index, dtype=object)
    spot[placed] = _st_spot_ids(xy["x"][placed], xy["y"][placed])
    return LabelRows(path, spot, _label_text(df["label"]), df, "x or y empty, NA or not a number")


def read_barcode_labels(path: str | Path) -> LabelRows:
    """Pathologist labels by barcode: the first column holds the barcode, a ``label`` column the region."""
    path = Path(path)
    df = _read_label_table(path, ("label",), "a barcode column (first) and a label column")
    barcode = df.iloc[:, 0].str.strip()
    return LabelRows(path, barcode.where(barcode.str.len() > 0), _label_text(df["label"]), df, "an empty barcode")


def _attach_labels(adata: ad.AnnData, rows: LabelRows | None) -> None:
    """Put the labels on the spots; spots no row names are ``undetermined``.

    Rows that cannot be placed on a spot of the section (no position, or a
    spot that is not under tissue or not in the count matrix) are counted in
    one warning that shows the first of them; the run goes on.  Only when no
    row at all can be placed is it an error: the file is not this section's.
    """
    if rows is None:
        return
    path, spot = rows.path, rows.spot
    no_position = spot.isna()
    placed = ~no_position & spot.isin(adata.obs_names)
    if not placed.any():
        if no_position.all():
            first = spot.index[0]
            raise InputError(
                path,
                f"none of the {len(spot)} label row(s) can be placed on a spot: none has a position "
                f"({rows.no_position}; e.g. line {rows.line(first)}: {rows.shown(first)})",
                "Check that this is a label file of the section and that its columns are as written in the README.",
            )
        named = spot[~no_position]
        also = f"; {int(no_position.sum())} more row(s) have no position ({rows.no_position})" if no_position.any() else ""
        raise InputError(
            path,
            f"none of the {len(named)} labelled spots (e.g. {named.iloc[0]}) match one of the {adata.n_obs} spots "
            f"of the section (e.g. {adata.obs_names[0]}){also}",
            "Check that the label file belongs to this section.",
        )
    unplaced = ~placed
    if unplaced.any():
        elsewhere = unplaced & ~no_position
        why = []
        if no_position.any():
            why.append(f"{int(no_position.sum())} with no position ({rows.no_position})")
        if elsewhere.any():
            why.append(f"{int(elsewhere.sum())} naming no spot of the section (e.g. {spot[elsewhere].iloc[0]})")
        first = unplaced.idxmax()
        LOG.warning(
            "%s: %d of %d label row(s) cannot be placed on a spot and are ignored: %s; the first is line %d: %s",
            path, int(unplaced.sum()), len(spot), ", ".join(why), rows.line(first), rows.shown(first),
        )
    labels = pd.Series(rows.label[placed].to_numpy(), index=spot[placed].astype(str).to_numpy(), name="label")
    labels = labels[~labels.index.duplicated()]
    adata.obs["label"] = labels.reindex(adata.obs_names).fillna(UNDETERMINED).astype(str).to_numpy()
    _warn_few_regions(adata, path)


def _warn_few_regions(adata: ad.AnnData, source: str | Path) -> None:
    """One region (or none) cannot measure agreement: say so rather than report a meaningless ARI."""
    regions = sorted(set(adata.obs["label"]) - {UNDETERMINED})
    if len(regions) < 2:
        LOG.warning(
            "%s: only %d annotated region(s) (%s); ARI and NMI are not informative for this section, "
            "and the number of regions to find comes from n_clusters or cluster.default_n_clusters",
            source, len(regions), ", ".join(regions) or "none",
        )


def _to_anndata(
    counts: sp.spmatrix, spots: pd.Index, genes: pd.Index, coords: np.ndarray, array_rc: np.ndarray | None
) -> ad.AnnData:
    """Assemble the contract's AnnData; counts stay sparse (Visium sections have ~30k genes).

    ``array_rc`` is None for a source without array positions (an ``.h5ad``
    without ``obs['array_row', 'array_col']``).
    """
    X = sp.csr_matrix(counts, dtype=np.float32)
    adata = ad.AnnData(X=X, obs=pd.DataFrame(index=spots.astype(str)), var=pd.DataFrame(index=genes.astype(str)))
    adata.layers["counts"] = X.copy()
    adata.obsm["spatial"] = np.asarray(coords, dtype=np.float64)
    if array_rc is not None:
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
        _attach_labels(adata, read_st_labels(labels))
    return adata


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
    if parquet.exists():
        source = parquet
        try:
            df = pd.read_parquet(parquet)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise InputError(parquet, f"cannot be read as Parquet ({err})", "Copy Space Ranger's file again.") from err
    elif new.exists():
        source, df = new, pd.read_csv(new)
    elif old.exists():
        source, df = old, pd.read_csv(old, header=None, names=cols)
    else:
        raise InputError(
            spatial_dir,
            "no tissue_positions.parquet, tissue_positions.csv or tissue_positions_list.csv",
            "Point visium_dir at a Space Ranger outs/ folder (for Visium HD, also set bin_um).",
        )
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(source, f"lacks column(s) {', '.join(missing)}", "Use Space Ranger's file unchanged.")
    return df.set_index("barcode")


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
        _attach_labels(out, read_barcode_labels(labels))
    return out


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
    _refuse_repeats(
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
    out = _to_anndata(
        sp.csr_matrix(counts)[keep],  # dense or CSC in the file: rows are spots either way
        src.obs_names[keep],
        var_names,
        coords[keep],
        None if array_rc is None else array_rc[keep],
    )
    if label_key:
        out.obs["label"] = _label_text(src.obs[label_key][keep]).to_numpy()
        _warn_few_regions(out, f"{path} obs[{label_key!r}]")
    elif labels is not None:
        _attach_labels(out, read_barcode_labels(labels))
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
