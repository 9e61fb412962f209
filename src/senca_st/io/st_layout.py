"""HER2ST / legacy ST sections: a ``{x}x{y}``-indexed count table, a spot file, a label file.

The embedded demo is written in this layout, so it exercises the same reader.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from senca_st.errors import InputError
from senca_st.io.labels import attach_labels, read_st_labels, st_spot_ids
from senca_st.io.reading import contract_anndata, numeric_columns, read_table, refuse_repeats, table_header

LOG = logging.getLogger("senca_st")


SPOT_COLUMNS = ("x", "y", "pixel_x", "pixel_y")


def read_st_counts(path: str | Path) -> pd.DataFrame:
    """Spot × gene count table of the legacy ST layout (rows ``{x}x{y}``)."""
    path = Path(path)
    df = read_table(path, "count matrix", min_columns=1, index_col=0)
    if df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError(path, f"count matrix has {df.shape[0]} spots and {df.shape[1]} genes", "It must not be empty.")
    genes = pd.Index(table_header(path)[1:])
    if len(genes) == df.shape[1]:
        refuse_repeats(genes, path, "count matrix has {n} duplicated gene name(s)", "Make gene names unique (sum or drop the duplicates).")
        df.columns = genes
    df.index = df.index.astype(str)
    refuse_repeats(df.index, path, "count matrix has {n} duplicated spot id(s)", "Each spot must have one row; remove the duplicates.")
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


def read_st_spots(path: str | Path) -> pd.DataFrame:
    """Spot file: array position ``x, y`` → full-resolution ``pixel_x, pixel_y``, under tissue only."""
    path = Path(path)
    df = read_table(path, "spot file")
    missing = [c for c in SPOT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            path,
            f"spot file lacks column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})",
            "It needs x, y, pixel_x, pixel_y and optionally selected.",
        )
    df = numeric_columns(df, SPOT_COLUMNS, path, "spot file")
    if "selected" in df.columns:
        df = df[pd.to_numeric(df["selected"], errors="coerce") == 1]
        if df.empty:
            raise InputError(path, "spot file has no spot with selected = 1 (no spot under tissue)", "Check the selected column.")
    df = df.copy()
    df["spot"] = st_spot_ids(df["x"], df["y"])
    return _one_position_per_spot(df, path).set_index("spot")



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
    adata = contract_anndata(
        sp.csr_matrix(table.to_numpy(dtype=np.float32)),
        table.index,
        table.columns,
        s[["pixel_x", "pixel_y"]].to_numpy(),
        s[["y", "x"]].round().to_numpy(),
    )
    if labels is not None:
        attach_labels(adata, read_st_labels(labels))
    return adata
