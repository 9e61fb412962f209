"""The sample sheet: which sections to run, from where, and how many regions to find.

Checked before any job starts so that a typo costs seconds, not an hour of
training: every message names the sheet and the offending row or column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from senca_st.errors import InputError

DATASETS = ("her2st", "visium", "demo")
COLUMNS = ("sample", "dataset", "n_clusters", "image", "labels", "counts", "spots", "visium_dir")


def load_sample_sheet(path: str | Path) -> pd.DataFrame:
    """Read and check the sheet; returns it indexed by ``sample`` with empty strings for blanks."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "sample sheet not found", "Set 'samples:' in the config to an existing TSV file.")
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, comment="#", skip_blank_lines=True).fillna("")
    except pd.errors.EmptyDataError:
        raise InputError(path, "sample sheet is empty", "Add a header 'sample<TAB>dataset' and one row per section.") from None
    sheet.columns = [c.strip() for c in sheet.columns]
    unknown = [c for c in sheet.columns if c not in COLUMNS]
    if unknown:
        raise InputError(path, f"unknown column(s) {', '.join(map(repr, unknown))}", f"Allowed: {', '.join(COLUMNS)}.")
    for required in ("sample", "dataset"):
        if required not in sheet.columns:
            raise InputError(path, f"missing column {required!r}", "The sheet needs at least 'sample' and 'dataset' (tab-separated).")
    if sheet.empty:
        raise InputError(path, "sample sheet has no sections", "Add one row per section below the header.")
    sheet = sheet.apply(lambda col: col.str.strip())
    dup = sheet["sample"][sheet["sample"].duplicated()].unique()
    if len(dup):
        raise InputError(path, f"duplicate sample id(s) {', '.join(map(repr, dup))}", "Each section needs its own sample id.")
    for _, row in sheet.iterrows():
        where = f"sample {row['sample']!r}"
        if not row["sample"]:
            raise InputError(path, "a row has an empty sample id", "Fill in the sample column.")
        if row["dataset"] not in DATASETS:
            raise InputError(path, f"{where}: unknown dataset {row['dataset']!r}", f"Use one of {', '.join(DATASETS)}.")
        if row.get("n_clusters", ""):
            try:
                n = int(row["n_clusters"])
            except ValueError:
                raise InputError(path, f"{where}: n_clusters {row['n_clusters']!r} is not a whole number", "Give an integer of at least 2.") from None
            if n < 2:
                raise InputError(path, f"{where}: n_clusters is {n}", "Ask for at least 2 regions.")
        if row["dataset"] == "visium" and not row.get("visium_dir", ""):
            raise InputError(path, f"{where}: a visium section needs a visium_dir", "Add the Space Ranger outs/ folder in the visium_dir column.")
        for col in ("visium_dir", "counts", "spots", "labels"):
            value = row.get(col, "")
            if value and not Path(value).exists():
                raise InputError(path, f"{where}: {col} {value!r} does not exist", "Fix the path (relative to the directory you run snakemake from).")
        image = row.get("image", "")
        if image and image != "none" and not Path(image).exists():
            raise InputError(path, f"{where}: image {image!r} does not exist", "Fix the path, or write 'none' to run without an image.")
    return sheet.set_index("sample", drop=False)
