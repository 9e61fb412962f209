"""The sample sheet: which sections to run, from where, and how many regions to find.

Checked before any job starts so that a typo costs seconds, not an hour of
training: every message names the sheet and the offending row or column.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from senca_st.errors import InputError

DATASETS = ("her2st", "visium", "demo", "h5ad", "cscc")
COLUMNS = (
    "sample", "dataset", "n_clusters", "group", "image", "image_scale", "labels", "counts", "spots", "visium_dir", "visium_id", "bin_um",
    "h5ad", "label_key",
)
# Columns that name one dataset's files: elsewhere they would be silently ignored, so they are refused.
ONLY_FOR = {"visium_dir": ("visium",), "visium_id": ("visium",), "bin_um": ("visium",), "h5ad": ("h5ad",), "label_key": ("h5ad",), "counts": ("her2st", "demo", "cscc"), "spots": ("her2st", "demo", "cscc")}
SAMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Written in the image or labels column: run the section without one, even if its dataset has one.
NONE = "none"
# Written in n_clusters: choose the number of regions from the embedding (senca_st.method.clustering.choose_n_clusters).
AUTO = "auto"
#: ``n_clusters: auto`` looks for the number of regions in this range (the sheet check needs
#: its lower end, without importing the clustering code).  From 3: a split in two is rarely the
#: answer (every annotated section here has 3-7 regions) and is what silhouette-like scores
#: pick; to 10: past it the choice on HER2ST drifts up with the bound.
AUTO_RANGE = (3, 10)
# Group results live under results/groups/{group}/: a section may not take that folder's name.
GROUPS_DIR = "groups"


def load_sample_sheet(path: str | Path, schema: str | Path | None = None) -> pd.DataFrame:
    """Read and check the sheet; returns it indexed by ``sample`` with empty strings for blanks.

    ``schema`` (config/schemas/samples.schema.yaml) is checked row by row after
    the checks below, with a one-line message.  Problems that do not stop the run
    (a labels file that does not exist: the section runs without evaluation) are
    returned as one-line notes in ``sheet.attrs["notes"]``; such a row's labels
    become ``none``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "sample sheet not found", "Set 'samples:' in the config to an existing TSV file.")
    if path.is_dir():
        raise InputError(path, "is a directory, not a sample sheet", "Set 'samples:' in the config to a TSV file.")
    try:
        sheet = pd.read_csv(path, sep="\t", dtype=str, comment="#", skip_blank_lines=True).fillna("")
    except pd.errors.EmptyDataError:
        raise InputError(path, "sample sheet is empty", "Add a header 'sample<TAB>dataset' and one row per section.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(path, f"sample sheet is not a tab-separated table ({err})", "Save it as TSV: one row per section, columns separated by tabs.") from None
    sheet.columns = [str(c).strip() for c in sheet.columns]
    if len(sheet.columns) == 1 and any(sep in sheet.columns[0] for sep in (",", ";", " ")):
        raise InputError(
            path,
            f"the header {sheet.columns[0]!r} is one column; the sheet is not tab-separated",
            "Separate the columns with tabs (sample<TAB>dataset ...).",
        )
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
    notes: list[str] = []
    for line, (_, row) in enumerate(sheet.iterrows(), start=2):
        where = f"sample {row['sample']!r}"
        if not row["sample"]:
            raise InputError(path, f"the row of line {line} has an empty sample id", "Fill in the sample column.")
        if not SAMPLE_ID.match(row["sample"]):
            raise InputError(
                path,
                f"{where}: the id may hold only letters, digits, '_', '.' and '-' (and start with a letter or digit)",
                "Rename the section; the id is used in file names.",
            )
        if row["dataset"] not in DATASETS:
            raise InputError(path, f"{where}: unknown dataset {row['dataset']!r}", f"Use one of {', '.join(DATASETS)}.")
        if row.get("n_clusters", "") and row["n_clusters"] != AUTO:
            try:
                n = int(row["n_clusters"])
            except ValueError:
                raise InputError(
                    path,
                    f"{where}: n_clusters {row['n_clusters']!r} is not a whole number",
                    f"Give an integer of at least 2, or '{AUTO}' to choose it from the embedding.",
                ) from None
            if n < 2:
                raise InputError(path, f"{where}: n_clusters is {n}", "Ask for at least 2 regions.")
        if row["dataset"] == "visium":
            _check_visium_row(row, path, where)
        if row["dataset"] == "h5ad" and not row.get("h5ad", ""):
            raise InputError(path, f"{where}: an h5ad section needs an h5ad file", "Add the path of its .h5ad file in the h5ad column.")
        for col, datasets in ONLY_FOR.items():
            if row.get(col, "") and row["dataset"] not in datasets:
                raise InputError(
                    path,
                    f"{where}: column {col} is read only for dataset {' or '.join(datasets)}, not {row['dataset']}",
                    f"Empty the {col} cell, or set the dataset.",
                )
        if row.get("label_key", "") and row.get("labels", "") not in ("", NONE):
            raise InputError(
                path,
                f"{where}: both label_key and labels are given",
                "Keep one: label_key reads the regions from the .h5ad's obs, labels from a barcode label file.",
            )
        for col in ("visium_dir", "counts", "spots", "h5ad"):
            value = row.get(col, "")
            if value and not Path(value).exists():
                raise InputError(path, f"{where}: {col} {value!r} does not exist", "Fix the path (relative to the directory you run snakemake from).")
        if row.get("bin_um", "") and row.get("visium_dir", "") and Path(row["visium_dir"]).exists():
            from senca_st.io.sections import HD_BINS, visium_folder

            if row["bin_um"] not in {str(b) for b in HD_BINS}:
                raise InputError(
                    path, f"{where}: bin_um {row['bin_um']!r} is not a Visium HD bin size", f"Use one of {', '.join(map(str, HD_BINS))} (µm)."
                )
            try:
                visium_folder(row["visium_dir"], row["bin_um"])
            except InputError as err:
                raise InputError(path, f"{where}: {err.path}: {err.problem}", err.hint) from None
        labels = row.get("labels", "")
        if labels and labels != NONE and not Path(labels).exists():
            notes.append(
                f"{path}: {where}: labels file {labels!r} does not exist; the section is clustered but not evaluated. "
                f"Fix the path to evaluate it, or write '{NONE}' in the labels column to silence this note."
            )
            sheet.loc[row.name, "labels"] = NONE
        _check_image_row(row, path, where)
    if schema is not None:
        _check_rows(sheet, path, schema)
    _check_groups(sheet, path)
    sheet = sheet.set_index("sample", drop=False)
    sheet.attrs["notes"] = notes
    return sheet


def _check_image_row(row: pd.Series, path: Path, where: str) -> None:
    """A named image exists; image_scale belongs to a named image; an .h5ad's own image is usable."""
    from senca_st.io.section_image import h5ad_image_source, parse_image_scale

    image = row.get("image", "")
    if image and image != NONE and not Path(image).exists():
        raise InputError(path, f"{where}: image {image!r} does not exist", f"Fix the path, or write '{NONE}' to run without an image.")
    if row.get("image_scale", ""):
        if image in ("", NONE):
            raise InputError(
                path,
                f"{where}: image_scale is given but the image column names no image",
                "Name the image it scales to, or empty image_scale (a Visium PNG or an .h5ad's own image brings its scale).",
            )
        parse_image_scale(row["image_scale"], where, path)
    if row["dataset"] == "h5ad" and not image and row.get("h5ad", "") and Path(row["h5ad"]).is_file():
        try:
            h5ad_image_source(row["h5ad"], row["sample"])
        except InputError as err:
            raise InputError(path, f"{where}: {err.path}: {err.problem}", err.hint) from None


def _check_visium_row(row: pd.Series, path: Path, where: str) -> None:
    """A visium row names its Space Ranger folder, or a 10x public dataset to download (not both)."""
    from senca_st.io.visium_datasets import DATASET_ID

    folder, name = row.get("visium_dir", ""), row.get("visium_id", "")
    if not folder and not name:
        raise InputError(
            path,
            f"{where}: a visium section needs a visium_dir or a visium_id",
            "Add the Space Ranger outs/ folder in visium_dir, or a 10x public dataset (e.g. V1_Human_Lymph_Node) in visium_id.",
        )
    if folder and name:
        raise InputError(path, f"{where}: both visium_dir and visium_id are given", "Keep one: your own folder, or a 10x dataset to download.")
    if name and not DATASET_ID.match(name):
        raise InputError(path, f"{where}: visium_id {name!r} is not a 10x dataset name", "Use the id 10x lists, e.g. V1_Breast_Cancer_Block_A_Section_1.")
    if name and row.get("bin_um", ""):
        raise InputError(path, f"{where}: bin_um is read from a visium_dir", "Visium HD datasets are read from their Space Ranger folder (visium_dir).")


def _check_groups(sheet: pd.DataFrame, path: Path) -> None:
    """A group has two sections at least and one n_clusters (its sections share one set of regions)."""
    if "group" not in sheet.columns or not sheet["group"].any():
        return
    if GROUPS_DIR in set(sheet["sample"]):
        raise InputError(
            path,
            f"sample id {GROUPS_DIR!r} is taken by the groups' results folder (results/{GROUPS_DIR}/)",
            "Rename that section.",
        )
    for group, rows in sheet[sheet["group"] != ""].groupby("group", sort=False):
        if not SAMPLE_ID.match(group):
            raise InputError(
                path,
                f"group {group!r}: the id may hold only letters, digits, '_', '.' and '-' (and start with a letter or digit)",
                "Rename the group; the id is used in file names.",
            )
        if len(rows) < 2:
            raise InputError(
                path,
                f"group {group!r} has one section ({rows['sample'].iloc[0]})",
                "A group is trained and clustered across its sections: give it two or more, or empty its group cell.",
            )
        values = sorted(set(rows["n_clusters"])) if "n_clusters" in rows else [""]
        if len(values) > 1:
            listed = ", ".join(f"{s}: {v or 'empty'}" for s, v in zip(rows["sample"], rows["n_clusters"]))
            raise InputError(
                path,
                f"group {group!r}: its sections ask for different n_clusters ({listed})",
                "A group's sections share one set of regions: give them one n_clusters.",
            )


def _check_rows(sheet: pd.DataFrame, path: Path, schema: str | Path) -> None:
    """Each row against the sheet's JSON schema; the first problem as one line naming row and column."""
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(yaml.safe_load(Path(schema).read_text()))
    for _, row in sheet.iterrows():
        record = {k: v for k, v in row.items() if v != ""}
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            column = error.path[0] if error.path else (error.validator_value if error.validator == "required" else "")
            raise InputError(
                path,
                f"sample {row['sample']!r}: column {column}: {error.message}",
                f"See {Path(schema).name} for what each column takes.",
            )


def check_sections(
    sheet: pd.DataFrame, sheet_path: str | Path, manifest: dict, manifest_path: str | Path
) -> None:
    """Every section must have files: a HER2ST section not in the manifest needs the sheet's counts and spots."""
    from senca_st.io.her2st_manifest import all_sections, section_files

    from senca_st.io import cscc

    for sample, row in sheet.iterrows():
        if row["dataset"] == "cscc" and sample not in cscc.SECTIONS and not (row.get("counts", "") and row.get("spots", "")):
            raise InputError(
                sheet_path,
                f"sample {sample!r} is not a cSCC section of GSE144240 (those are {', '.join(cscc.SECTIONS)}) and the sheet names "
                "no counts and spots files",
                "Use a cSCC section id, or give your files in the counts and spots columns.",
            )
        if row["dataset"] != "her2st":
            continue
        upstream = section_files(manifest, sample)
        lacking = [kind for kind in ("counts", "spots") if not row.get(kind, "") and not upstream[kind]]
        if lacking:
            known = all_sections(manifest)
            listed = f"{known[0]} … {known[-1]}" if known else "none"
            raise InputError(
                sheet_path,
                f"sample {sample!r} has no {' or '.join(lacking)} file: it is not a HER2ST section of {manifest_path} "
                f"(those are {listed}) and the sheet names none",
                f"Use a HER2ST section id, or give your files in the {' and '.join(lacking)} column(s).",
            )
