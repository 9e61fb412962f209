"""10x public Visium datasets by name (visium_id) through the real download code and reader.

A generated section (:mod:`senca_st.io.space_ranger`, Space Ranger 1.x layout) is
published on a loopback server the way 10x serves its examples
(``{base}/1.1.0/{id}/{id}_filtered_feature_bc_matrix.h5``, ``_spatial.tar.gz``,
``_image.tif``); the workflow downloads, unpacks and runs it.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from her2st_server import loopback_server  # noqa: F401
from PIL import Image

from senca_st.errors import InputError
from senca_st.io.space_ranger import write_space_ranger
from senca_st.io.visium_datasets import unpack_spatial, url
from senca_st.samplesheet import load_sample_sheet
from workflow_copy import copy_workflow, run_snakemake, write_overlay

DATASET = "V1_Generated_Breast_Section"


def publish(root: Path, dataset: str = DATASET) -> dict[str, Path]:
    """The generated section as 10x publishes a dataset, under root/1.1.0/{id}/."""
    made = write_space_ranger(root / "made" / "outs", "1.x", seed=2, n_cols=20, n_rows=16, n_genes=200, markers=20)
    outs = made["outs"]
    folder = root / "public" / "1.1.0" / dataset
    folder.mkdir(parents=True)
    shutil.copyfile(outs / "filtered_feature_bc_matrix.h5", folder / f"{dataset}_filtered_feature_bc_matrix.h5")
    with tarfile.open(folder / f"{dataset}_spatial.tar.gz", "w:gz") as tar:
        tar.add(outs / "spatial", arcname="spatial")
    hires = Image.open(outs / "spatial" / "tissue_hires_image.png")
    hires.resize((hires.width * 2, hires.height * 2)).save(folder / f"{dataset}_image.tif", format="TIFF")
    return {"public": root / "public", "labels": made["labels"], "outs": outs}


def test_urls_follow_10x_layout():
    base = "https://cf.10xgenomics.com/samples/spatial-exp"
    assert url(base, "V1_Human_Lymph_Node", "spatial.tar.gz") == f"{base}/1.1.0/V1_Human_Lymph_Node/V1_Human_Lymph_Node_spatial.tar.gz"
    assert url(base + "/", "Parent_Visium_Human_Glioblastoma", "filtered_feature_bc_matrix.h5").endswith(
        "/1.2.0/Parent_Visium_Human_Glioblastoma/Parent_Visium_Human_Glioblastoma_filtered_feature_bc_matrix.h5"
    )


def test_unpack_refuses_unsafe_or_incomplete_tarballs(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(InputError, match="cannot be unpacked"):
        unpack_spatial(evil, tmp_path / "outs")
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "outs" / "spatial").exists()
    partial = tmp_path / "partial.tar.gz"
    with tarfile.open(partial, "w:gz") as tar:
        info = tarfile.TarInfo("spatial/scalefactors_json.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    with pytest.raises(InputError, match=r"lacks tissue_hires_image.png, tissue_positions.csv or tissue_positions_list.csv"):
        unpack_spatial(partial, tmp_path / "outs")
    assert not (tmp_path / "outs" / "spatial").exists(), "nothing half-unpacked is left"


def test_sheet_visium_id_rules(tmp_path):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tdataset\nv\tvisium\n")
    with pytest.raises(InputError, match="needs a visium_dir or a visium_id"):
        load_sample_sheet(sheet)
    sheet.write_text(f"sample\tdataset\tvisium_dir\tvisium_id\nv\tvisium\t{tmp_path}\tV1_X\n")
    with pytest.raises(InputError, match="both visium_dir and visium_id"):
        load_sample_sheet(sheet)
    sheet.write_text("sample\tdataset\tvisium_id\nv\tdemo\tV1_X\n")
    with pytest.raises(InputError, match="column visium_id is read only for dataset visium"):
        load_sample_sheet(sheet)


@pytest.mark.slow
def test_visium_dataset_by_name_downloads_unpacks_and_runs(tmp_path, loopback_server):
    pub = publish(tmp_path)
    server = loopback_server(pub["public"])
    wf = copy_workflow(tmp_path / "wf")
    (wf / "config" / "samples_v.tsv").write_text(f"sample\tdataset\tvisium_id\tlabels\nlymph\tvisium\t{DATASET}\t{pub['labels']}\n")
    overlay = write_overlay(
        wf,
        f"samples: config/samples_v.tsv\nvisium:\n  base_url: {server.url}\n  full_image: true\n"
        "train:\n  epochs: 2\n  seeds: [0]\ntiling:\n  patch_px: 32\nmethods:\n  with_image: [senca, rna_pca]\n",
        name="visium_id.yaml",
    )
    proc = run_snakemake(wf, "all", "--configfile", str(overlay))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = wf / "resources" / "visium" / DATASET
    assert (got / "outs" / "filtered_feature_bc_matrix.h5").read_bytes() == (pub["outs"] / "filtered_feature_bc_matrix.h5").read_bytes()
    assert (got / "outs" / "spatial" / "tissue_positions_list.csv").is_file() and (got / "image.tif").is_file()
    asked = {Path(r.path).name for r in server.requests}
    assert {f"{DATASET}_filtered_feature_bc_matrix.h5", f"{DATASET}_spatial.tar.gz", f"{DATASET}_image.tif"} <= asked
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t")
    assert set(ari["method"]) == {"senca", "rna_pca"} and (ari["ari"] > 0.3).all(), ari
