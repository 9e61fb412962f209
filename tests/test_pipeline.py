"""The whole DAG, run by Snakemake on a fresh copy of the workflow."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd
import pytest

from workflow_copy import copy_workflow, run_snakemake as snakemake, write_overlay


HER2ST_FOUR = "sample\tdataset\timage\nA1\ther2st\tnone\nB1\ther2st\tnone\nC1\ther2st\tnone\nD1\ther2st\tnone\n"


def her2st_overlay(wf: Path, root: Path, sheet: str = HER2ST_FOUR) -> Path:
    (wf / "config" / "samples_test.tsv").write_text(sheet)
    return write_overlay(
        wf,
        f"samples: config/samples_test.tsv\nher2st:\n  base_url: {root.as_uri()}\n  manifest: resources/her2st_manifest.tsv\n",
    )


def test_dry_run_lists_per_section_jobs(tmp_path, her2st_root):
    wf = copy_workflow(tmp_path / "wf")
    overlay = her2st_overlay(wf, her2st_root)
    out = snakemake(wf, "-n", "--quiet", "rules", "--configfile", str(overlay)).stdout
    proc = snakemake(wf, "-n", "--configfile", str(overlay))
    text = proc.stdout + proc.stderr
    for s in ("A1", "B1", "C1", "D1"):
        assert f"results/{s}/spots.h5ad" in text
        assert f"resources/her2st/data/ST-cnts/{s}.tsv.gz" in text
        assert f"results/{s}/methods/senca_rna/embedding.h5ad" in text
    # no image was asked for, so none is downloaded or tiled
    assert "ST-imgs" not in text and "patches.npy" not in text
    assert "download_her2st_file" in out and "load_section" in out


@pytest.mark.slow
def test_her2st_sections_download_and_load(tmp_path, her2st_root):
    """The real download code fetches four sections from a file:// mirror and loads them."""
    wf = copy_workflow(tmp_path / "wf")
    overlay = her2st_overlay(wf, her2st_root)
    targets = [f"results/{s}/spots.h5ad" for s in ("A1", "B1", "C1", "D1")]
    snakemake(wf, *targets, "--configfile", str(overlay))
    n = {s: ad.read_h5ad(wf / f"results/{s}/spots.h5ad").n_obs for s in ("A1", "B1", "C1", "D1")}
    assert n == {"A1": 346, "B1": 295, "C1": 176, "D1": 306}


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """The demo through every rule with every method, at the paper's settings (config/test/full.yaml)."""
    wf = copy_workflow(tmp_path / "wf")
    snakemake(wf, "--configfile", "config/test/full.yaml")
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t")
    assert list(ari.columns) == ["sample", "method", "ari", "nmi", "n_spots", "n_clusters", "seconds"]
    methods = set(ari["method"])
    assert {"senca", "rna_pca", "image_only", "concat", "senca_no_crossattn", "senca_no_hierarchy", "senca_k8", "senca_k16"} <= methods
    assert (ari["n_clusters"] == 5).all() and (ari["n_spots"] >= 600).all()
    clusters = pd.read_csv(wf / "results/demo/clusters.tsv", sep="\t")
    assert list(clusters.columns) == ["spot", "cluster"] and clusters["cluster"].nunique() == 5
    emb = ad.read_h5ad(wf / "results/demo/embedding.h5ad")
    assert emb.obsm["X_senca"].shape == (len(clusters), 128)
    by = ari.set_index("method")["ari"]
    print(by.to_string())
    assert by["senca"] > by["rna_pca"] and by["senca"] > by["image_only"]
    assert by["senca"] > by["concat"]
