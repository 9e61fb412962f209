"""Issue #8, part 3: AnnData input (sample sheet ``dataset: h5ad``, columns ``h5ad`` and ``label_key``).

The real DLPFC sections (``../shared/data/dlpfc``: raw CSR integer counts in
``X``, ``obs['layer']`` categorical with NaN for unlabelled spots,
``obsm['spatial']``) load with ``label_key: layer`` and run through the
workflow's load_section and preprocess rules; small generated files cover
every refusal (each one line naming the file, nothing written).
"""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from PIL import Image

from bad_input_files import REGIONS, section_tables, temp_files, write_section
from senca_st import steps
from senca_st.errors import InputError
from senca_st.evaluation.metrics import n_regions
from senca_st.io.sections import UNDETERMINED, read_h5ad_section
from senca_st.samplesheet import load_sample_sheet
from workflow_copy import copy_workflow, run_snakemake, write_overlay

REPO = Path(__file__).resolve().parents[1]
SHEET_SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"
# README of ../shared/data/dlpfc: spots, unlabelled spots
DLPFC = {"151673": (3639, 28), "151674": (3673, 38)}


def section_anndata(nx: int = 9, ny: int = 8) -> ad.AnnData:
    """The bad-input section (tests/bad_input_files.py) as a scanpy user would hold it."""
    counts, spots, labels = section_tables(nx, ny)
    adata = ad.AnnData(
        X=sp.csr_matrix(counts.to_numpy().astype(np.int64)),
        obs=pd.DataFrame(index=[f"BC{i:03d}-1" for i in range(len(counts))]),
        var=pd.DataFrame(index=counts.columns),
    )
    adata.obsm["spatial"] = spots[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64)
    adata.obs["array_row"] = spots["y"].to_numpy()
    adata.obs["array_col"] = spots["x"].to_numpy()
    region = pd.Series(labels["label"].to_numpy(), dtype="category")
    region[:4] = np.nan  # unlabelled spots
    adata.obs["region"] = region.to_numpy()
    return adata


def write(adata: ad.AnnData, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path)
    return path


def log_normalised(adata: ad.AnnData) -> sp.csr_matrix:
    X = sp.csr_matrix(adata.X, dtype=np.float64)
    X.data = np.log1p(X.data / 3.0)
    return X


# --- the real DLPFC sections ----------------------------------------------------------------------


@pytest.mark.parametrize("section", sorted(DLPFC))
def test_real_dlpfc_section(dlpfc_root, section):
    src = ad.read_h5ad(dlpfc_root / f"{section}.h5ad")
    adata = read_h5ad_section(dlpfc_root / f"{section}.h5ad", "layer")
    n_spots, n_unlabelled = DLPFC[section]
    assert adata.shape == (n_spots, 5000)
    assert (adata.X != src.X).nnz == 0 and (adata.layers["counts"] != src.X).nnz == 0
    assert np.array_equal(adata.obsm["spatial"], src.obsm["spatial"])
    assert adata.obs["array_row"].tolist() == src.obs["array_row"].tolist()
    assert (adata.obs["label"] == UNDETERMINED).sum() == n_unlabelled
    assert n_regions(adata.obs["label"]) == 7
    assert set(adata.obs["label"]) == {"L1", "L2", "L3", "L4", "L5", "L6", "WM", UNDETERMINED}


def test_real_dlpfc_load_and_preprocess_steps(dlpfc_root, tmp_path, caplog):
    out = tmp_path / "spots.h5ad"
    steps.load_section("h5ad", str(out), h5ad=str(dlpfc_root / "151673.h5ad"), label_key="layer", sample="151673")
    assert "no pathologist labels" not in caplog.text
    spots = ad.read_h5ad(out)
    assert spots.uns["section"]["counts"] == str(dlpfc_root / "151673.h5ad")
    steps.preprocess_step(str(out), str(tmp_path / "pre.h5ad"), n_top_genes=500)
    pre = ad.read_h5ad(tmp_path / "pre.h5ad")
    assert pre.n_vars == 500 and pre.n_obs > 3500 and n_regions(pre.obs["label"]) == 7


# --- generated files that load -------------------------------------------------------------------


def test_generated_section_with_label_key(tmp_path):
    path = write(section_anndata(), tmp_path / "s.h5ad")
    adata = read_h5ad_section(path, "region")
    assert adata.n_obs == 72 and adata.obs_names[0] == "BC000-1"
    assert (adata.obs["label"] == UNDETERMINED).sum() == 4
    assert set(adata.obs["label"]) == {*REGIONS, UNDETERMINED}
    assert adata.obs["array_col"].tolist()[:3] == [0, 1, 2]
    assert adata.X.dtype == np.float32 and adata.obsm["spatial"].dtype == np.float64


def test_without_label_key_there_are_no_labels(tmp_path, caplog):
    path = write(section_anndata(), tmp_path / "s.h5ad")
    adata = steps.load_section("h5ad", str(tmp_path / "out.h5ad"), h5ad=str(path), sample="s1")
    assert "label" not in adata.obs
    assert "s1: no pathologist labels; the section is clustered but not evaluated" in caplog.text


def test_numeric_labels_and_empty_strings(tmp_path):
    src = section_anndata()
    src.obs["layer_id"] = np.where(np.arange(src.n_obs) % 3 == 0, np.nan, np.arange(src.n_obs) % 2 + 1.0)
    src.obs["name"] = ["" if i < 5 else " tumour " for i in range(src.n_obs)]
    path = write(src, tmp_path / "s.h5ad")
    assert set(read_h5ad_section(path, "layer_id").obs["label"]) == {"1", "2", UNDETERMINED}
    by_name = read_h5ad_section(path, "name").obs["label"]
    assert (by_name == UNDETERMINED).sum() == 5 and set(by_name) == {"tumour", UNDETERMINED}


def test_counts_layer_is_preferred_when_x_is_normalised(tmp_path):
    src = section_anndata()
    src.layers["counts"] = src.X.copy()
    src.X = log_normalised(src)
    adata = read_h5ad_section(write(src, tmp_path / "s.h5ad"))
    assert (adata.X != sp.csr_matrix(src.layers["counts"], dtype=np.float32)).nnz == 0


def test_x_is_used_when_the_counts_layer_is_not_raw(tmp_path, caplog):
    src = section_anndata()
    src.layers["counts"] = log_normalised(src)
    path = write(src, tmp_path / "s.h5ad")
    adata = read_h5ad_section(path)
    assert (adata.X != sp.csr_matrix(src.X, dtype=np.float32)).nnz == 0
    assert (
        f"{path}: layers['counts'] has non-integer values (e.g. 2.457), as normalised or log counts do; "
        "reading the raw counts from X"
    ) in caplog.text


def test_dense_float_counts_without_array_positions(tmp_path):
    src = section_anndata()
    src.X = src.X.toarray().astype(np.float32)
    del src.obs["array_row"], src.obs["array_col"]
    adata = read_h5ad_section(write(src, tmp_path / "s.h5ad"))
    assert adata.n_obs == 72 and "array_row" not in adata.obs


def test_spots_without_position_are_left_out_with_a_warning(tmp_path, caplog):
    src = section_anndata()
    src.obsm["spatial"][[5, 9]] = np.nan
    path = write(src, tmp_path / "s.h5ad")
    adata = read_h5ad_section(path, "region")
    assert adata.n_obs == 70 and "BC005-1" not in adata.obs_names
    assert (
        f"{path}: 2 of 72 spot(s) cannot be placed (NaN or infinite obsm['spatial']) and are left out; "
        "the first is spot BC005-1 (row 6 of obs)"
    ) in caplog.text


def test_barcode_label_file_for_an_h5ad_section(tmp_path, caplog):
    path = write(section_anndata(), tmp_path / "s.h5ad")
    lab = tmp_path / "labels.tsv"
    lab.write_text("barcode\tlabel\nBC000-1\ttumour\nBC001-1\tstroma\nNA\ttumour\nXX-1\tstroma\n")
    adata = steps.load_section("h5ad", str(tmp_path / "out.h5ad"), h5ad=str(path), labels=str(lab), sample="s1")
    assert adata.obs["label"].tolist()[:3] == ["tumour", "stroma", UNDETERMINED]
    assert (
        f"{lab}: 2 of 4 label row(s) cannot be placed on a spot and are ignored: 1 with no position (an empty barcode), "
        "1 naming no spot of the section (e.g. XX-1); the first is line 4: barcode=NA, label=tumour"
    ) in caplog.text
    lab.write_text("barcode\tlabel\nXX-1\tstroma\n")
    with pytest.raises(InputError, match=r"none of the 1 labelled spots \(e.g. XX-1\) match one of the 72 spots"):
        read_h5ad_section(path, labels=lab)


def test_tiling_an_h5ad_section_with_a_user_image(tmp_path):
    files = write_section(tmp_path / "in", labels=False)
    path = write(section_anndata(), tmp_path / "s.h5ad")
    steps.load_section("h5ad", str(tmp_path / "spots.h5ad"), h5ad=str(path), sample="s1")
    spec = {"dataset": "h5ad", "sample": "s1", "user_image": str(files["image"])}
    steps.image_features_step(str(tmp_path / "spots.h5ad"), str(files["image"]), str(tmp_path / "f.npy"), str(tmp_path / "f.json"), 32, 3, spec, "efficientnet_lite0")
    assert np.load(tmp_path / "f.npy").shape == (72, 1280)


# --- refusals --------------------------------------------------------------------------------------


def _bad(kind: str, tmp_path: Path) -> Path:
    path = tmp_path / "bad.h5ad"
    src = section_anndata()
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("barcode\tGENE000\nBC000-1\t3\n")
    elif kind == "empty-file":
        path.write_bytes(b"")
    elif kind == "plain-hdf5":
        with h5py.File(path, "w") as f:
            f["counts"] = np.zeros((3, 3))
    elif kind == "10x-hdf5":
        with h5py.File(path, "w") as f:
            f.create_group("matrix")["shape"] = np.array([3, 3])
    elif kind == "no-spatial":
        src.obsm["X_umap"] = np.zeros((src.n_obs, 2))
        src.obsm["X_pca"] = np.zeros((src.n_obs, 2))
        del src.obsm["spatial"]
    elif kind == "no-obsm":
        del src.obsm["spatial"]
    elif kind == "one-column-spatial":
        src.obsm["spatial"] = src.obsm["spatial"][:, :1]
    elif kind == "no-position":
        src.obsm["spatial"][:] = np.nan
    elif kind == "log-x":
        src.X = log_normalised(src)
    elif kind == "log-x-negative-layer":
        src.layers["counts"] = src.X.copy().astype(np.float64)
        src.layers["counts"].data[3] = -2.0
        src.X = log_normalised(src)
    elif kind == "scaled-x":
        X = src.X.toarray().astype(np.float64)
        src.X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1)
    elif kind == "nan-x":
        src.X = src.X.toarray().astype(np.float64)
        src.X[2, 3] = np.nan
    elif kind == "no-spots":
        src = src[:0].copy()
    elif kind == "no-genes":
        src = src[:, :0].copy()
    elif kind == "dup-spots":
        src.obs_names = ["BC000-1"] * 2 + list(src.obs_names[2:])
    return write(src, path) if not path.exists() else path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "AnnData file not found. Check the path in the sample sheet's h5ad column"),
        ("directory", "is a directory, not an .h5ad file"),
        ("text", "is not an AnnData (.h5ad) file: it is not HDF5 (it looks like a text file). Write the section with anndata's adata.write_h5ad"),
        ("empty-file", "is not an AnnData (.h5ad) file: it is not HDF5 (the file is empty)"),
        ("plain-hdf5", "is an HDF5 file but not an AnnData (.h5ad) file: it holds counts, no obs and var"),
        ("10x-hdf5", "it holds matrix, no obs and var; it looks like a 10x matrix: use dataset visium with its outs/ folder"),
        ("no-spatial", "has no obsm['spatial'] (the spot positions); its obsm holds 'X_pca', 'X_umap'. Store each spot's x, y"),
        ("no-obsm", "has no obsm['spatial'] (the spot positions); its obsm holds nothing"),
        ("one-column-spatial", "obsm['spatial'] has shape (72, 1); it needs an x and a y per spot"),
        ("no-position", "none of the 72 spots has a finite position in obsm['spatial'] (all NaN or infinite)"),
        ("log-x", "holds no raw counts: X has non-integer values (e.g. 2.457), as normalised or log counts do, and there is no layers['counts']. Give raw counts (whole numbers >= 0) in X or layers['counts']"),
        ("log-x-negative-layer", "holds no raw counts: layers['counts'] has negative values (e.g. -2), as scaled or centred data do; X has non-integer values (e.g. 2.457)"),
        ("scaled-x", "holds no raw counts: X has negative values (e.g. -"),
        ("nan-x", "holds no raw counts: X has NaN or infinite values (1)"),
        ("no-spots", "holds an empty matrix (0 spots, 60 genes)"),
        ("no-genes", "holds an empty matrix (72 spots, 0 genes)"),
        ("dup-spots", "has 1 duplicated spot name(s) in obs_names, e.g. 'BC000-1'"),
    ],
)
@pytest.mark.filterwarnings("ignore:Observation names are not unique")
def test_bad_h5ad_is_one_line_naming_the_file(tmp_path, kind, message):
    path = _bad(kind, tmp_path)
    out = tmp_path / "results" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        steps.load_section("h5ad", str(out), h5ad=str(path), sample="s1")
    msg = str(err.value)
    assert msg.startswith(f"{path}: ") and message in msg and "\n" not in msg, msg
    assert not out.exists() and temp_files(tmp_path) == []


def test_label_key_not_in_obs_lists_the_columns(tmp_path):
    path = write(section_anndata(), tmp_path / "s.h5ad")
    with pytest.raises(InputError) as err:
        read_h5ad_section(path, "layer")
    assert str(err.value) == (
        f"{path}: label_key 'layer' is not a column of obs (its columns: 'array_row', 'array_col', 'region'). "
        "Set label_key in the sample sheet to the obs column holding the regions, or leave it empty to run unlabelled."
    )


# --- sample sheet ------------------------------------------------------------------------------------


def _sheet(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "samples.tsv"
    p.write_text(text)
    return p


def test_h5ad_rows_in_the_sample_sheet(tmp_path):
    h5 = write(section_anndata(), tmp_path / "s.h5ad")
    sheet = load_sample_sheet(_sheet(tmp_path, f"sample\tdataset\th5ad\tlabel_key\tn_clusters\ns1\th5ad\t{h5}\tregion\t3\ns2\th5ad\t{h5}\t\t\n"), schema=SHEET_SCHEMA)
    assert sheet.loc["s1", "label_key"] == "region" and sheet.loc["s2", "h5ad"] == str(h5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sample\tdataset\ns1\th5ad\n", "sample 's1': an h5ad section needs an h5ad file. Add the path of its .h5ad file in the h5ad column"),
        ("sample\tdataset\th5ad\ns1\th5ad\tgone.h5ad\n", "sample 's1': h5ad 'gone.h5ad' does not exist. Fix the path"),
        ("sample\tdataset\tlabel_key\nA1\ther2st\tlayer\n", "sample 'A1': column label_key is read only for dataset h5ad, not her2st"),
        ("sample\tdataset\th5ad\nA1\tdemo\t{h5}\n", "sample 'A1': column h5ad is read only for dataset h5ad, not demo"),
        ("sample\tdataset\th5ad\tcounts\ns1\th5ad\t{h5}\t{h5}\n", "sample 's1': column counts is read only for dataset her2st or demo or cscc, not h5ad"),
        ("sample\tdataset\th5ad\tlabel_key\tlabels\ns1\th5ad\t{h5}\tregion\t{h5}\n", "sample 's1': both label_key and labels are given. Keep one"),
        ("sample\tdataset\nA1\tmouse\n", "unknown dataset 'mouse'. Use one of her2st, visium, demo, h5ad"),
    ],
)
def test_bad_h5ad_rows(tmp_path, text, message):
    h5 = write(section_anndata(), tmp_path / "s.h5ad")
    p = _sheet(tmp_path, text.format(h5=h5))
    with pytest.raises(InputError) as err:
        load_sample_sheet(p, schema=SHEET_SCHEMA)
    assert str(err.value).startswith(f"{p}: ") and message in str(err.value)


# --- through the workflow ------------------------------------------------------------------------------


@pytest.mark.slow
def test_dlpfc_through_the_workflow(tmp_path, dlpfc_root):
    """Dry run of the whole DAG, then load_section and preprocess of one DLPFC section for real; the
    image features of two generated sections: one's H&E in its uns['spatial'] (as scanpy.read_visium
    writes it, no sheet column), the other's a downscaled file given with image_scale."""
    from test_section_image import visium_like

    wf = copy_workflow(tmp_path / "wf")
    sec = section_anndata()
    gen = write(sec, tmp_path / "gen.h5ad")
    image = write_section(tmp_path / "img", labels=False)["image"]
    with Image.open(image) as im:
        im.resize((im.width // 2, im.height // 2)).save(tmp_path / "half.png")
    uns = ad.read_h5ad(gen)
    uns.uns["spatial"] = {"genuns": {"images": {"hires": np.asarray(Image.open(tmp_path / "half.png"))}, "scalefactors": {"tissue_hires_scalef": 0.5}}}
    withuns = write(uns, tmp_path / "genuns.h5ad")
    (wf / "config" / "samples_h5ad.tsv").write_text(
        "sample\tdataset\th5ad\tlabel_key\timage\timage_scale\tn_clusters\n"
        f"151673\th5ad\t{dlpfc_root / '151673.h5ad'}\tlayer\t\t\t\n"
        f"gen\th5ad\t{gen}\t\t{tmp_path / 'half.png'}\t0.5\t3\n"
        f"genuns\th5ad\t{withuns}\t\t\t\t3\n"
        f"norna\th5ad\t{gen}\t\t\t\t3\n"
    )
    overlay = write_overlay(wf, "samples: config/samples_h5ad.tsv\n")
    proc = run_snakemake(wf, "-n", "--configfile", str(overlay))
    text = proc.stdout + proc.stderr
    assert "results/151673/spots.h5ad" in text
    # DLPFC's lowres H&E in uns['spatial']: the image methods run with no sheet column
    assert "results/151673/image_features.npy" in text and "results/151673/methods/senca/" in text
    assert "results/norna/methods/senca_rna/" in text and "results/norna/methods/senca/" not in text
    assert "results/151673/methods/rna_pca/metrics.tsv" in text  # labelled through label_key: evaluated
    assert "results/gen/image_features.npy" in text and "results/gen/methods/senca/" in text  # a user image: image methods
    assert "results/gen/methods/rna_pca/metrics.tsv" not in text  # no label_key: not evaluated
    assert "results/norna/image_features.npy" not in text  # no uns['spatial'], no image: RNA only
    run_snakemake(wf, "results/151673/preprocessed.h5ad", "results/gen/image_features.npy", "results/genuns/image_features.npy", "--configfile", str(overlay))
    spots = ad.read_h5ad(wf / "results/151673/spots.h5ad")
    assert spots.n_obs == 3639 and (spots.obs["label"] == UNDETERMINED).sum() == 28
    pre = ad.read_h5ad(wf / "results/151673/preprocessed.h5ad")
    assert pre.n_vars == 3000 and n_regions(pre.obs["label"]) == 7
    assert "151673: 3639 spots under tissue, 5000 genes" in (wf / "logs/load_section/151673.log").read_text()
    # the same half-size image, once as a file at image_scale 0.5 and once inside the h5ad at its scale factor
    a, b = np.load(wf / "results/gen/image_features.npy"), np.load(wf / "results/genuns/image_features.npy")
    assert a.shape == b.shape and a.shape[1] == 1280 and np.allclose(a, b, atol=1e-4)
    meta = json.loads((wf / "results/genuns/image_features.json").read_text())
    assert meta["encoder"] == "efficientnet_lite0" and "uns['spatial']['genuns']['images']['hires'] at 0.5" in meta["image"]
    assert "image encoder efficientnet_lite0 (1280 features at 224 px)" in (wf / "logs/image_features/genuns.log").read_text()
