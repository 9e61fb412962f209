"""The report's figures (senca_st.report.figures) and `snakemake --report` on the demo."""

from __future__ import annotations

import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from senca_st.report import figures, study_figures
from workflow_copy import copy_workflow, run_snakemake

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    with Image.open(path) as im:
        return im.size


def not_blank(path: Path) -> bool:
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L"))
    return arr.std() > 5


@pytest.fixture
def section(tmp_path) -> dict:
    """A 12x10 lattice section: three regions (and undetermined spots), clusters, an H&E-like image."""
    rng = np.random.default_rng(0)
    xs, ys = np.meshgrid(np.arange(12), np.arange(10))
    xy = np.c_[200 + 60 * xs.ravel() + 30 * (ys.ravel() % 2), 150 + 52 * ys.ravel()].astype(float)
    n = len(xy)
    label = np.where(xs.ravel() < 4, "stroma", np.where(ys.ravel() < 5, "tumour", "immune")).astype(object)
    label[rng.choice(n, 6, replace=False)] = "undetermined"
    obs = pd.DataFrame({"label": label}, index=[f"s{i}" for i in range(n)])
    adata = ad.AnnData(X=np.zeros((n, 2), dtype=np.float32), obs=obs)
    adata.obsm["spatial"] = xy
    spots = tmp_path / "preprocessed.h5ad"
    adata.write_h5ad(spots)
    # clusters: regions renamed to numbers, a few spots wrong
    cl = pd.Series(label).map({"stroma": 2, "tumour": 0, "immune": 1, "undetermined": 0}).to_numpy()
    cl[rng.choice(n, 10, replace=False)] = 3
    clusters = tmp_path / "clusters.tsv"
    pd.DataFrame({"spot": obs.index, "cluster": cl}).to_csv(clusters, sep="\t", index=False)
    img = np.full((800, 1100, 3), (235, 170, 200), dtype=np.uint8)
    img[:, :430] = (245, 200, 215)
    image = tmp_path / "he.png"
    Image.fromarray(img).save(image)
    return {"spots": spots, "clusters": clusters, "image": image}


def test_section_figure_over_the_image(section, tmp_path):
    out = figures.section_figure(section["spots"], section["clusters"], tmp_path / "f.png", "S1", "senca", image=section["image"])
    w, h = png_size(out)
    assert w > 1.5 * h, "image, clusters and regions side by side"
    assert not_blank(out)


def test_section_figure_without_image_or_labels(section, tmp_path):
    out = figures.section_figure(section["spots"], section["clusters"], tmp_path / "blank.png", "S2", "senca_rna")
    assert not_blank(out)
    adata = ad.read_h5ad(section["spots"])
    del adata.obs["label"]
    adata.write_h5ad(tmp_path / "nolabels.h5ad")
    out = figures.section_figure(tmp_path / "nolabels.h5ad", section["clusters"], tmp_path / "one.png", "S3", "senca_rna")
    w, h = png_size(out)
    assert w < 2 * h, "one panel when there is neither image nor labels"


def test_region_maps_name_regions_by_their_markers(section, tmp_path):
    markers = tmp_path / "region_markers.tsv"
    rows = [(r, rank, f"GENE{r}{rank}", 9.0 - rank, 2.0, 1e-9, 0.9, 0.2) for r in (0, 1, 2, 3) for rank in (1, 2, 3)]
    pd.DataFrame(rows, columns=["region", "rank", "gene", "score", "logfoldchange", "pval_adj", "frac_in", "frac_out"]).to_csv(
        markers, sep="\t", index=False
    )
    clusters = pd.read_csv(section["clusters"], sep="\t")["cluster"].to_numpy()
    entries, named = figures._region_entries(clusters, {k: "#000000" for k in (0, 1, 2, 3)}, {2: "stroma"}, markers)
    assert named and entries[2][0] == f"2 ≈ stroma ({(clusters == 2).sum()}): GENE21, GENE22"
    out = figures.section_figure(section["spots"], section["clusters"], tmp_path / "m.png", "S1", "senca", markers=markers)
    assert not_blank(out)
    group = figures.group_figure(
        [section["spots"]] * 2, [section["clusters"]] * 2, tmp_path / "g.png", "g", "senca_rna_joint",
        ["a", "b"], [section["image"], None], [1.0, 1.0], markers=markers,
    )
    assert not_blank(group)


def test_legend_lists_matched_and_unmatched_clusters_in_id_order():
    labels = pd.Series(["a"] * 5 + ["b"] * 5 + ["c"] * 5)
    cl = np.array([3] * 5 + [0] * 5 + [2] * 3 + [1] * 2)  # cluster 1 is left without a region
    matched = figures.match_clusters(labels, cl)
    colours = figures._cluster_colours(cl, matched, figures._region_colours(labels))
    entries, _ = figures._region_entries(cl, colours, matched, None)
    assert [name.split(" ")[0] for name, _ in entries] == ["0", "1", "2", "3"]


def test_section_figure_rejects_clusters_missing_spots(section, tmp_path):
    table = pd.read_csv(section["clusters"], sep="\t").iloc[:-3]
    table.to_csv(tmp_path / "short.tsv", sep="\t", index=False)
    with pytest.raises(figures.InputError, match="have no cluster"):
        figures.section_figure(section["spots"], tmp_path / "short.tsv", tmp_path / "x.png", "S", "senca")
    assert not (tmp_path / "x.png").exists()


def test_clusters_take_the_colour_of_their_matched_region():
    labels = pd.Series(["a", "a", "b", "b", "undetermined", "c"])
    clusters = np.array([5, 5, 7, 7, 7, 9])
    matched = figures.match_clusters(labels, clusters)
    assert matched == {5: "a", 7: "b", 9: "c"}
    region = figures._region_colours(labels)
    colours = figures._cluster_colours(clusters, matched, region)
    assert colours[5] == region["a"] and colours[7] == region["b"]


def test_metrics_figure(tmp_path):
    table = pd.DataFrame(
        {
            "sample": ["A1", "A1", "B1", "B1"],
            "method": ["senca", "rna_pca", "senca", "rna_pca"],
            "ari": [0.5, 0.3, 0.4, 0.35],
            "nmi": [0.55, 0.4, 0.5, 0.45],
            "n_spots": 300,
            "n_clusters": 5,
            "seconds": 1.0,
        }
    )
    table.to_csv(tmp_path / "ari.tsv", sep="\t", index=False)
    assert not_blank(study_figures.metrics_figure(tmp_path / "ari.tsv", tmp_path / "m.png"))
    table.iloc[:0].to_csv(tmp_path / "empty.tsv", sep="\t", index=False)
    assert png_size(study_figures.metrics_figure(tmp_path / "empty.tsv", tmp_path / "e.png"))


def test_runtime_figure_reads_benchmarks(tmp_path):
    root = tmp_path / "benchmarks" / "runs"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, s in (("train/A1/senca.tsv", 120.5), ("train/B1/senca.tsv", 98.0), ("aggregate_metrics.tsv", 1.2)):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + f"{s}\t0:00:01\t250.1\t1\t1\t1\t0\t0\t0\t1\n")
    (root / "broken.tsv").write_text("")
    table = study_figures.read_benchmarks(root)
    assert sorted(table["rule"].unique()) == ["aggregate_metrics", "train"]
    assert table.loc[table["rule"] == "train", "s"].sum() == pytest.approx(218.5)
    assert not_blank(study_figures.runtime_figure(root, tmp_path / "r.png"))
    assert png_size(study_figures.runtime_figure(tmp_path / "none", tmp_path / "n.png"))


# --------------------------------------------------------------------------- the workflow


def snakemake(wf: Path, *args: str) -> str:
    proc = run_snakemake(wf, *args)
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_report_of_the_demo(tmp_path):
    """The default target makes the figures; `snakemake --report` (HTML and zip) holds them."""
    wf = copy_workflow(tmp_path / "wf")
    config = ["--configfile", "config/test/basic.yaml"]
    snakemake(wf, *config)
    pngs = [
        wf / "results/report/sections/demo.png",
        wf / "results/report/markers/demo.png",
        wf / "results/report/metrics.png",
        wf / "results/report/runtimes.png",
    ]
    for png in pngs:
        assert png.is_file(), f"{png.relative_to(wf)} not made by the default target"
        assert png.stat().st_size > 10_000 and not_blank(png)

    snakemake(wf, "--report", "results/report.html", *config)
    html = (wf / "results/report.html").read_text(errors="replace")
    assert len(html) > 100_000
    for text in ("Regions", "Metrics", "Runtimes", "demo.png", "metrics.png", "runtimes.png", "ari.tsv", "marker genes"):
        assert text in html, f"{text!r} not in the HTML report"

    snakemake(wf, "--report", "results/report.zip", *config)
    with zipfile.ZipFile(wf / "results/report.zip") as zf:
        names = zf.namelist()
    for png in pngs:
        assert any(n.endswith("/" + png.name) for n in names), f"{png.name} not in the zipped report"

    # What a scanpy user opens: one AnnData that draws its regions over the H&E as it is.
    draw_section_over_its_image(wf / "results/demo/section.h5ad", "demo", tmp_path)
    table = pd.read_csv(wf / "results/demo/region_markers.tsv", sep="\t", dtype={"region": str})
    section = ad.read_h5ad(wf / "results/demo/section.h5ad")
    assert set(table["region"]) == set(section.obs["region"].cat.categories)
    assert set(table["gene"]) <= set(section.var_names)


def draw_section_over_its_image(path: Path, sample: str, tmp_path: Path) -> None:
    """``sc.pl.spatial(adata, color="region")`` draws the regions over the H&E from ``uns['spatial']``, no argument added."""
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc
    from matplotlib import pyplot as plt

    adata = sc.read_h5ad(path)
    assert isinstance(adata.obs["region"].dtype, pd.CategoricalDtype)
    assert "hires" in adata.uns["spatial"][sample]["images"]
    drawn = {}
    for name, img_key in (("with_image", "hires"), ("without", None)):
        ax = sc.pl.spatial(adata, color="region", img_key=img_key, show=False)[0]
        out = tmp_path / f"{name}.png"
        ax.figure.savefig(out, dpi=60)
        plt.close("all")
        with Image.open(out) as im:
            drawn[name] = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert drawn["with_image"].shape == drawn["without"].shape
    # the H&E's pink shows between the spots only when the image is drawn
    assert np.abs(drawn["with_image"] - drawn["without"]).mean() > 5
