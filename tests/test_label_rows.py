"""Issue #8, parts 1 and 2: label rows that cannot be placed on a spot, and spot ids with two positions.

Real upstream label files have rows with ``NA`` coordinates (HER2ST G2 has
eight, written as ``2611x27491  NA  NA  NA  NA  adipose tissue``): such a row
is a WARNING that counts them and shows the first (file, line, row), and the
section is still read and evaluated; only a label file none of whose rows can
be placed is an error.  The same rule holds for barcode label files (Visium,
h5ad; see tests/test_h5ad.py for the AnnData input).  A spot file that gives
one spot id two positions is an error; exact repeats are dropped.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bad_input_files import section_tables, write_section
from senca_st import steps
from senca_st.errors import InputError
from senca_st.io.download import git_blob_sha1
from senca_st.io.sections import SPOT_COLUMNS, UNDETERMINED, read_st_section, read_st_spots, read_visium_section
from workflow_copy import copy_workflow, run_snakemake, write_overlay

REPO = Path(__file__).resolve().parents[1]
NA_ROW = "NA\tNA\tNA\tNA"


def her2st_style_labels(path: Path, labels: pd.DataFrame, pitch: float = 20.0) -> Path:
    """``labels`` (x, y, label) as an upstream ``*_labeled_coordinates.tsv``: Row.names, adjusted x, y, pixels."""
    out = pd.DataFrame(
        {
            "Row.names": [f"{int(x * pitch)}x{int(y * pitch)}" for x, y in zip(labels["x"], labels["y"])],
            "x": labels["x"] + 0.02,
            "y": labels["y"] - 0.03,
            "pixel_x": labels["x"] * pitch + 0.375,
            "pixel_y": labels["y"] * pitch + 0.812,
            "label": labels["label"],
        }
    )
    out.to_csv(path, sep="\t", index=False)
    return path


def add_na_rows(path: Path, after: list[int], label: str = "adipose tissue") -> list[int]:
    """Insert an upstream-style NA row after each of the given data rows; return their line numbers.

    As in G2's file: the row copies its neighbour's Row.names with a ``1``
    appended, has ``NA`` for every coordinate, and a label.
    """
    lines = path.read_text().splitlines()
    header, rows = lines[0].split("\t"), lines[1:]
    out, na_lines = [lines[0]], []
    for i, row in enumerate(rows):
        out.append(row)
        if i in after:
            fields = [
                "NA" if col in SPOT_COLUMNS else f"{value}1" if col == "Row.names" else label if col == "label" else value
                for col, value in zip(header, row.split("\t"))
            ]
            out.append("\t".join(fields))
            na_lines.append(len(out))
    path.write_text("\n".join(out) + "\n")
    return na_lines


def line(path: Path, number: int) -> list[str]:
    return path.read_text().splitlines()[number - 1].split("\t")


def load(files: dict, out: Path):
    return steps.load_section(
        "her2st", str(out), counts=str(files["counts"]), spots=str(files["spots"]), labels=str(files["labels"]), sample="s1"
    )


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


# --- ST label files ------------------------------------------------------------------------------


def test_na_rows_are_one_warning_and_the_section_is_labelled(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    _, _, lab = section_tables()
    her2st_style_labels(files["labels"], lab)
    na_lines = add_na_rows(files["labels"], after=[10, 20, 21, 30, 40, 50, 60, 70])
    adata = load(files, tmp_path / "results" / "spots.h5ad")
    assert (tmp_path / "results" / "spots.h5ad").exists()
    assert (adata.obs["label"] != UNDETERMINED).sum() == 72 and "nan" not in set(adata.obs["label"])
    (msg,) = [m for m in warnings(caplog) if "cannot be placed" in m]
    assert msg == (
        f"{files['labels']}: 8 of 80 label row(s) cannot be placed on a spot and are ignored: "
        f"8 with no position (x or y empty, NA or not a number); the first is line {na_lines[0]}: "
        f"Row.names={line(files['labels'], na_lines[0])[0]}, x=NA, y=NA, pixel_x=NA, pixel_y=NA, label=adipose tissue"
    )
    assert line(files["labels"], na_lines[0])[0] == "20x201"  # row 10 is spot 1x1, 20 px from the origin


def test_one_na_row_and_labels_off_the_section_are_counted_together(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    extra = pd.DataFrame({"x": [50, 51], "y": [50, 50], "label": ["tumour"] * 2})
    pd.concat([lab, extra]).to_csv(files["labels"], sep="\t", index=False)
    (na_line,) = add_na_rows(files["labels"], after=[3])
    load(files, tmp_path / "results" / "spots.h5ad")
    (msg,) = [m for m in warnings(caplog) if "cannot be placed" in m]
    assert f"3 of 75 label row(s) cannot be placed on a spot and are ignored: 1 with no position" in msg
    assert "2 naming no spot of the section (e.g. 50x50)" in msg
    assert msg.endswith(f"the first is line {na_line}: x=NA, y=NA, label=adipose tissue")


def test_non_numeric_coordinate_is_a_row_without_position(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t").astype({"x": object})
    lab.loc[5, "x"] = "5,0"
    lab.to_csv(files["labels"], sep="\t", index=False)
    adata = load(files, tmp_path / "results" / "spots.h5ad")
    (msg,) = [m for m in warnings(caplog) if "cannot be placed" in m]
    assert "1 of 72 label row(s)" in msg and msg.endswith("the first is line 7: x=5,0, y=0, label=stroma")
    assert (adata.obs["label"] == UNDETERMINED).sum() == 1


def test_label_file_with_no_placeable_row_is_an_error(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    files["labels"].write_text(f"x\ty\tpixel_x\tpixel_y\tlabel\n{NA_ROW}\ttumour\n{NA_ROW}\tstroma\n")
    out = tmp_path / "results" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        load(files, out)
    msg = str(err.value)
    assert msg.startswith(
        f"{files['labels']}: none of the 2 label row(s) can be placed on a spot: none has a position "
        "(x or y empty, NA or not a number; e.g. line 2: x=NA, y=NA, pixel_x=NA, pixel_y=NA, label=tumour)"
    )
    assert "\n" not in msg and not out.exists()


def test_no_label_matching_a_spot_also_counts_the_na_rows(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    lab["y"] += 1000
    lab.to_csv(files["labels"], sep="\t", index=False)
    add_na_rows(files["labels"], after=[0, 1])
    with pytest.raises(InputError) as err:
        load(files, tmp_path / "results" / "spots.h5ad")
    msg = str(err.value)
    assert msg.startswith(f"{files['labels']}: none of the 72 labelled spots (e.g. 0x1000) match one of the 72 spots")
    assert "; 2 more row(s) have no position (x or y empty, NA or not a number). Check that the label file belongs" in msg


def test_real_her2st_label_file_with_na_rows(her2st_root, tmp_path, caplog):
    """A1's real label file with eight rows written as G2's upstream NA rows."""
    d = her2st_root / "data"
    labels = tmp_path / "A1_labeled_coordinates.tsv"
    shutil.copy(d / "ST-pat/lbl/A1_labeled_coordinates.tsv", labels)
    na_lines = add_na_rows(labels, after=[5, 50, 51, 100, 150, 200, 250, 300])
    adata = read_st_section(d / "ST-cnts/A1.tsv.gz", d / "ST-spotfiles/A1_selection.tsv", labels)
    clean = read_st_section(d / "ST-cnts/A1.tsv.gz", d / "ST-spotfiles/A1_selection.tsv", d / "ST-pat/lbl/A1_labeled_coordinates.tsv")
    assert adata.obs["label"].equals(clean.obs["label"])
    (msg,) = [m for m in warnings(caplog) if "cannot be placed" in m and str(labels) in m]
    # A1 itself has two labels for spots that are not under tissue; the NA rows add eight
    assert ": 10 of 356 label row(s) cannot be placed on a spot and are ignored: 8 with no position" in msg
    assert "2 naming no spot of the section (e.g. 17x14)" in msg
    first = line(labels, na_lines[0])[0]
    assert msg.endswith(f"the first is line {na_lines[0]}: Row.names={first}, x=NA, y=NA, pixel_x=NA, pixel_y=NA, label=adipose tissue")


# --- barcode label files (Visium) -----------------------------------------------------------------


def write_visium_outs(folder: Path, nx: int = 6, ny: int = 5) -> tuple[Path, list[str]]:
    """A tiny Space Ranger outs/ folder (10x v3 HDF5 matrix, tissue positions, scale factors)."""
    counts, spots, _ = section_tables(nx, ny)
    barcodes = [f"AAAC{i:04d}-1" for i in range(len(counts))]
    m = sp.csc_matrix(counts.to_numpy().T.astype(np.int32))  # genes x barcodes, as 10x writes it
    (folder / "spatial").mkdir(parents=True)
    with h5py.File(folder / "filtered_feature_bc_matrix.h5", "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        g["shape"] = np.array(m.shape, dtype=np.int32)
        feats = g.create_group("features")
        feats["id"] = np.array([f"ENSG{i:05d}" for i in range(counts.shape[1])], dtype="S")
        feats["name"] = np.array(counts.columns, dtype="S")
        feats["feature_type"] = np.array(["Gene Expression"] * counts.shape[1], dtype="S")
        feats["genome"] = np.array(["GRCh38"] * counts.shape[1], dtype="S")
    pd.DataFrame(
        {
            "barcode": barcodes,
            "in_tissue": 1,
            "array_row": spots["y"],
            "array_col": spots["x"],
            "pxl_row_in_fullres": spots["pixel_y"],
            "pxl_col_in_fullres": spots["pixel_x"],
        }
    ).to_csv(folder / "spatial" / "tissue_positions.csv", index=False)
    return folder, barcodes


def test_visium_barcode_labels_empty_and_unknown_barcodes_warn(tmp_path, caplog):
    outs, barcodes = write_visium_outs(tmp_path / "outs")
    lab = tmp_path / "labels.tsv"
    lab.write_text(
        "barcode\tlabel\n"
        + "".join(f"{b}\t{'tumour' if i % 2 else 'stroma'}\n" for i, b in enumerate(barcodes[:20]))
        + "\tstroma\nTTTT0000-1\ttumour\nNA\tstroma\n"
    )
    adata = read_visium_section(outs, lab)
    assert (adata.obs["label"] != UNDETERMINED).sum() == 20
    (msg,) = [m for m in warnings(caplog) if "cannot be placed" in m]
    assert msg == (
        f"{lab}: 3 of 23 label row(s) cannot be placed on a spot and are ignored: 2 with no position (an empty barcode), "
        "1 naming no spot of the section (e.g. TTTT0000-1); the first is line 22: barcode=NA, label=stroma"
    )


def test_visium_labels_matching_no_barcode_is_an_error(tmp_path):
    outs, _ = write_visium_outs(tmp_path / "outs")
    lab = tmp_path / "labels.tsv"
    lab.write_text("barcode\tlabel\nGGGG-1\ttumour\n\tstroma\n")
    with pytest.raises(InputError) as err:
        read_visium_section(outs, lab)
    assert str(err.value).startswith(
        f"{lab}: none of the 1 labelled spots (e.g. GGGG-1) match one of the 30 spots of the section (e.g. AAAC0000-1); "
        "1 more row(s) have no position (an empty barcode)"
    )


def test_visium_empty_label_cell_is_undetermined(tmp_path):
    outs, barcodes = write_visium_outs(tmp_path / "outs")
    lab = tmp_path / "labels.tsv"
    lab.write_text(f"barcode\tlabel\n{barcodes[0]}\t\n{barcodes[1]}\ttumour\n{barcodes[2]}\tstroma\n")
    adata = read_visium_section(outs, lab)
    assert adata.obs.loc[barcodes[0], "label"] == UNDETERMINED and "nan" not in set(adata.obs["label"])


# --- spot files: one position per spot id ----------------------------------------------------------


def _spots(tmp_path: Path, extra: list[dict]) -> Path:
    _, spots, _ = section_tables(3, 2)
    path = tmp_path / "spots.tsv"
    pd.concat([spots, pd.DataFrame(extra)], ignore_index=True).to_csv(path, sep="\t", index=False)
    return path


def test_spot_id_with_two_positions_is_an_error(tmp_path):
    # line 8 repeats line 2 exactly; 1.2, 0.9 (line 9) rounds to spot 1x1 of line 6, at another position
    path = _spots(tmp_path, [
        {"x": 0, "y": 0, "new_x": 0, "new_y": 0, "pixel_x": 30.0, "pixel_y": 30.0, "selected": 1},
        {"x": 1.2, "y": 0.9, "new_x": 1.2, "new_y": 0.9, "pixel_x": 54.5, "pixel_y": 48.0, "selected": 1},
    ])
    with pytest.raises(InputError) as err:
        read_st_spots(path)
    assert str(err.value) == (
        f"{path}: spot file gives spot 1x1 (rounded x, y) two positions: pixel_x, pixel_y = 50, 50 on line 6 "
        "and 54.5, 48 on line 9. Each spot under tissue needs one position: fix or delete one of the rows "
        "(or set its selected to 0)."
    )


def test_spot_ids_with_two_positions_are_counted(tmp_path):
    path = _spots(tmp_path, [
        {"x": 0, "y": 0, "new_x": 0, "new_y": 0, "pixel_x": 31.0, "pixel_y": 30.0, "selected": 1},
        {"x": 2, "y": 1, "new_x": 2, "new_y": 1, "pixel_x": 70.0, "pixel_y": 99.0, "selected": 1},
    ])
    with pytest.raises(InputError, match=r"gives spot 0x0 \(rounded x, y\) two positions: .* on line 2 and .* on line 8 \(2 such spot ids\)"):
        read_st_spots(path)


def test_exact_repeats_and_unselected_duplicates_are_accepted(tmp_path):
    path = _spots(tmp_path, [
        {"x": 1, "y": 1, "new_x": 1, "new_y": 1, "pixel_x": 50.0, "pixel_y": 50.0, "selected": 1},  # same row again
        {"x": 1, "y": 0, "new_x": 1, "new_y": 0, "pixel_x": 900.0, "pixel_y": 900.0, "selected": 0},  # not under tissue
    ])
    df = read_st_spots(path)
    assert len(df) == 6 and df.index.is_unique
    assert df.loc["1x1", ["pixel_x", "pixel_y"]].tolist() == [50.0, 50.0]
    assert df.loc["1x0", ["pixel_x", "pixel_y"]].tolist() == [50.0, 30.0]


def test_every_real_spot_file_is_accepted(her2st_root):
    files = sorted((her2st_root / "data" / "ST-spotfiles").glob("*_selection.tsv"))
    assert len(files) == 32
    for path in files:
        df = read_st_spots(path)
        assert df.index.is_unique and len(df) > 100, path


# --- the paper's config path: a downloaded HER2ST label file with NA rows ---------------------------


def _mirror_with_na_labels(her2st_root: Path, root: Path) -> tuple[Path, Path, list[int]]:
    """A file:// mirror holding A1 whose label file has NA rows, and a manifest that vouches for it."""
    rel = {k: f"data/{p}" for k, p in {
        "counts": "ST-cnts/A1.tsv.gz",
        "spots": "ST-spotfiles/A1_selection.tsv",
        "labels": "ST-pat/lbl/A1_labeled_coordinates.tsv",
    }.items()}
    for path in rel.values():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(her2st_root / path, root / path)
    na_lines = add_na_rows(root / rel["labels"], after=[0, 99])
    data = (root / rel["labels"]).read_bytes()
    manifest = root / "manifest.tsv"
    lines = (REPO / "resources" / "her2st_manifest.tsv").read_text().splitlines()
    entry = f"{rel['labels']}\t{git_blob_sha1(root / rel['labels'])}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}"
    manifest.write_text("\n".join(entry if ln.startswith(rel["labels"] + "\t") else ln for ln in lines) + "\n")
    return root, manifest, na_lines


@pytest.mark.slow
def test_her2st_label_file_with_na_rows_through_the_workflow(tmp_path, her2st_root):
    """Download (file://, verified against the manifest), load_section and preprocess of A1 with NA label rows."""
    mirror, manifest, na_lines = _mirror_with_na_labels(her2st_root, tmp_path / "mirror")
    wf = copy_workflow(tmp_path / "wf")
    (wf / "config" / "samples_na.tsv").write_text("sample\tdataset\timage\nA1\ther2st\tnone\n")
    overlay = write_overlay(
        wf, f"samples: config/samples_na.tsv\nher2st:\n  base_url: {mirror.as_uri()}\n  manifest: {manifest}\n"
    )
    run_snakemake(wf, "results/A1/preprocessed.h5ad", "--configfile", str(overlay))
    log = (wf / "logs" / "load_section" / "A1.log").read_text()
    assert "A1_labeled_coordinates.tsv: 4 of 350 label row(s) cannot be placed on a spot and are ignored: 2 with no position" in log
    assert f"the first is line {na_lines[0]}: Row.names=" in log
    spots = ad.read_h5ad(wf / "results" / "A1" / "spots.h5ad")
    assert spots.n_obs == 346 and len(set(spots.obs["label"]) - {UNDETERMINED}) == 5
    assert (wf / "results" / "A1" / "preprocessed.h5ad").exists()
