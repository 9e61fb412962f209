"""Pathologist labels: read from ST label files or barcode tables, placed on the section's spots.

Label rows that cannot be placed on a spot (no position, or a position that is
no spot of the section) are a warning, not an error: real upstream files have
a few (HER2ST G2 has eight rows with ``NA`` coordinates), and the other rows
still evaluate the section.  Only a label source none of whose rows can be
placed is an error: it almost always belongs to another section.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.errors import InputError
from senca_st.io.reading import read_table

LOG = logging.getLogger("senca_st")


UNDETERMINED = "undetermined"


def st_spot_ids(x: pd.Series, y: pd.Series) -> pd.Series:
    """``{x}x{y}`` of the rounded array position: the row names of an ST count matrix."""
    return x.round().astype(int).astype(str) + "x" + y.round().astype(int).astype(str)


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


def label_text(values: pd.Series) -> pd.Series:
    """Region names as text; empty or missing cells are ``undetermined`` (left out of ARI)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce")
        if (numbers.dropna() == numbers.dropna().round()).all():
            values = numbers.astype("Int64")  # region 3, not "3.0"
    text = values.astype("string").str.strip().fillna("").replace("", UNDETERMINED)
    return text.astype(str)


def _read_label_table(path: Path, needs: tuple[str, ...], layout: str) -> pd.DataFrame:
    """A label file as text (so a row can be shown as written), with its ``needs`` columns checked."""
    df = read_table(path, "label file", dtype=str)
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
    (see :func:`attach_labels` for what becomes of it).
    """
    path = Path(path)
    df = _read_label_table(path, ("x", "y", "label"), "x, y and label")
    xy = df[["x", "y"]].apply(pd.to_numeric, errors="coerce")
    placed = np.isfinite(xy.to_numpy(dtype=np.float64)).all(axis=1)
    spot = pd.Series(pd.NA, index=df.index, dtype=object)
    spot[placed] = st_spot_ids(xy["x"][placed], xy["y"][placed])
    return LabelRows(path, spot, label_text(df["label"]), df, "x or y empty, NA or not a number")


def read_barcode_labels(path: str | Path) -> LabelRows:
    """Pathologist labels by barcode: the first column holds the barcode, a ``label`` column the region."""
    path = Path(path)
    df = _read_label_table(path, ("label",), "a barcode column (first) and a label column")
    barcode = df.iloc[:, 0].str.strip()
    return LabelRows(path, barcode.where(barcode.str.len() > 0), label_text(df["label"]), df, "an empty barcode")


def attach_labels(adata: ad.AnnData, rows: LabelRows | None) -> None:
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
    warn_few_regions(adata, path)


def warn_few_regions(adata: ad.AnnData, source: str | Path) -> None:
    """One region (or none) cannot measure agreement: say so rather than report a meaningless ARI."""
    regions = sorted(set(adata.obs["label"]) - {UNDETERMINED})
    if len(regions) < 2:
        LOG.warning(
            "%s: only %d annotated region(s) (%s); ARI and NMI are not informative for this section, "
            "and the number of regions to find comes from n_clusters or cluster.default_n_clusters",
            source, len(regions), ", ".join(regions) or "none",
        )
