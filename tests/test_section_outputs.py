"""What a user opens: section.h5ad (senca_st.report.section) and region markers (senca_st.evaluation.markers)."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from PIL import Image

from senca_st.errors import InputError
from senca_st.evaluation import markers
from senca_st.report.marker_figure import marker_figure
from senca_st.report.section import HIRES_PX, region_column, section_anndata


def planted(n_per: int = 40, seed: int = 0, genes: list[str] | None = None) -> ad.AnnData:
    """Three regions of ``n_per`` spots; gene ``M<r>`` is high in region r only, the others are noise."""
    rng = np.random.default_rng(seed)
    genes = genes or [f"M{r}" for r in range(3)] + [f"G{i}" for i in range(30)]
    region = np.repeat(np.arange(3), n_per)
    counts = rng.poisson(2.0, size=(3 * n_per, len(genes))).astype(np.float32)
    for r in range(3):
        if f"M{r}" in genes:
            counts[region == r, genes.index(f"M{r}")] += rng.poisson(30, size=n_per)
    a = ad.AnnData(X=sp.csr_matrix(counts), obs=pd.DataFrame(index=[f"s{i}" for i in range(3 * n_per)]))
    a.var_names = genes
    a.layers["lognorm"] = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4)
    a.obs["region"] = pd.Categorical(region.astype(str))
    return a


def test_each_region_is_marked_by_its_planted_gene():
    table = markers.rank_region_markers(planted())
    assert list(table.columns) == markers.COLUMNS
    best = markers.top_markers(table, 1)
    assert best == {"0": ["M0"], "1": ["M1"], "2": ["M2"]}
    top = table[table["rank"] == 1].set_index("region")
    assert (top["pval_adj"] < 1e-10).all() and (top["logfoldchange"] > 2).all()
    assert (top["frac_in"] == 1.0).all() and (top["frac_out"] < 1.0).all()
    assert table.groupby("region").size().max() <= markers.N_GENES


def test_a_region_of_one_spot_is_left_out():
    a = planted()
    regions = a.obs["region"].astype(str).to_numpy().copy()
    regions[0] = "lonely"
    a.obs["region"] = pd.Categorical(regions)
    table = markers.rank_region_markers(a)
    assert "lonely" not in set(table["region"]) and {"0", "1", "2"} <= set(table["region"])


def test_group_markers_pool_sections_on_their_shared_genes(tmp_path):
    paths = []
    for i, extra in enumerate(["X1", "X2"]):
        a = planted(seed=i, genes=["M0", "M1", "M2", extra] + [f"G{j}" for j in range(20)])
        a.obs["region_senca_rna_joint"] = a.obs["region"]
        paths.append(tmp_path / f"s{i}.h5ad")
        a.write_h5ad(paths[-1])
    out = tmp_path / "group_markers.tsv"
    table = markers.group_markers_step([str(p) for p in paths], ["A", "B"], str(out), "region_senca_rna_joint")
    assert markers.top_markers(markers.read_markers(out), 1) == {"0": ["M0"], "1": ["M1"], "2": ["M2"]}
    assert not {"X1", "X2"} & set(table["gene"]), "a gene missing from one section is not compared"


def test_group_markers_name_a_section_without_the_region_column(tmp_path):
    path = tmp_path / "s.h5ad"
    planted().write_h5ad(path)
    with pytest.raises(InputError, match="region_senca_joint"):
        markers.group_markers_step([str(path)], ["A"], str(tmp_path / "m.tsv"), "region_senca_joint")


@pytest.fixture
def pipeline_files(tmp_path) -> dict:
    """spots.h5ad, preprocessed.h5ad (one spot filtered out), two methods' clusters and embeddings, an image."""
    a = planted()
    n = a.n_obs
    xs, ys = np.arange(n) % 12, np.arange(n) // 12
    spots = ad.AnnData(X=a.X.copy(), obs=pd.DataFrame({"label": a.obs["region"].astype(str).to_numpy()}, index=a.obs_names))
    spots.var_names = a.var_names
    spots.layers["counts"] = spots.X.copy()
    spots.obsm["spatial"] = np.c_[100 + 50.0 * xs, 80 + 50.0 * ys]
    spots.write_h5ad(tmp_path / "spots.h5ad")
    kept = spots[1:].copy()
    kept.write_h5ad(tmp_path / "preprocessed.h5ad")
    files = {"clusters": {}, "embeddings": {}}
    for m, shift in (("senca", 0), ("rna_pca", 1)):
        cl = (a.obs["region"].astype(int).to_numpy()[1:] + shift) % 3
        files["clusters"][m] = tmp_path / f"{m}_clusters.tsv"
        pd.DataFrame({"spot": kept.obs_names, "cluster": cl}).to_csv(files["clusters"][m], sep="\t", index=False)
        emb = ad.AnnData(obs=pd.DataFrame(index=kept.obs_names))
        emb.obsm[f"X_{m}"] = np.random.default_rng(shift).normal(size=(kept.n_obs, 4)).astype(np.float32)
        emb.uns["embedding_key"] = f"X_{m}"
        if m == "senca":  # what train_step writes for a gated fused variant
            emb.uns["image_gate"] = {"image": 0.1, "position": 0.2, "open": False}
        files["embeddings"][m] = tmp_path / f"{m}_embedding.h5ad"
        emb.write_h5ad(files["embeddings"][m])
    Image.fromarray(np.full((1200, 4000, 3), 200, dtype=np.uint8)).save(tmp_path / "he.png")
    return {"dir": tmp_path, "spots": tmp_path / "spots.h5ad", "preprocessed": tmp_path / "preprocessed.h5ad",
            "image": tmp_path / "he.png", **files}


def test_section_anndata_holds_counts_regions_embeddings_and_the_image(pipeline_files):
    f = pipeline_files
    out = f["dir"] / "section.h5ad"
    section_anndata(f["spots"], f["preprocessed"], f["clusters"], f["embeddings"], "senca", "S1", out, f["image"], 0.5)
    a = ad.read_h5ad(out)
    assert a.n_obs == 119 and "s0" not in a.obs_names, "only the spots the pipeline clustered"
    assert a.n_vars == 33 and sp.issparse(a.layers["counts"]) and "lognorm" in a.layers
    np.testing.assert_array_equal(a.X.toarray(), a.layers["counts"].toarray())
    for m in ("senca", "rna_pca"):
        assert isinstance(a.obs[region_column(m)].dtype, pd.CategoricalDtype)
        assert a.obsm[f"X_{m}"].shape == (119, 4)
    assert (a.obs["region"] == a.obs["region_senca"]).all()
    assert a.uns["senca"]["primary_method"] == "senca"
    gate = a.uns["senca"]["image_gate"]
    assert (gate["image"], gate["position"], bool(gate["open"])) == (0.1, 0.2, False)
    entry = a.uns["spatial"]["S1"]
    assert max(entry["images"]["hires"].shape[:2]) == HIRES_PX
    # image_scale 0.5 (full resolution -> image), then the 4000 px image shrunk to 2000
    assert entry["scalefactors"]["tissue_hires_scalef"] == pytest.approx(0.25)
    assert entry["scalefactors"]["spot_diameter_fullres"] == pytest.approx(0.55 * 50)


def test_section_anndata_without_image_has_no_images_key(pipeline_files):
    f = pipeline_files
    a = section_anndata(f["spots"], f["preprocessed"], f["clusters"], f["embeddings"], "rna_pca", "S2", f["dir"] / "s.h5ad")
    assert "images" not in a.uns["spatial"]["S2"] and "spot_diameter_fullres" in a.uns["spatial"]["S2"]["scalefactors"]
    assert "image_gate" not in a.uns["senca"], "a method without the image has no gate"
    assert (a.obs["region"] == a.obs["region_rna_pca"]).all()


def test_section_anndata_names_a_clusters_file_missing_spots(pipeline_files):
    f = pipeline_files
    short = f["dir"] / "short.tsv"
    pd.read_csv(f["clusters"]["senca"], sep="\t").iloc[5:].to_csv(short, sep="\t", index=False)
    out = f["dir"] / "bad.h5ad"
    with pytest.raises(InputError, match="short.tsv"):
        section_anndata(f["spots"], f["preprocessed"], {"senca": short}, {}, "senca", "S", out)
    assert not out.exists(), "nothing half-written"


def test_marker_dot_plot(pipeline_files):
    f = pipeline_files
    section = f["dir"] / "section.h5ad"
    section_anndata(f["spots"], f["preprocessed"], f["clusters"], f["embeddings"], "senca", "S1", section)
    table = f["dir"] / "markers.tsv"
    markers.section_markers_step(str(section), str(table))
    png = marker_figure(section, table, f["dir"] / "dots.png", "S1 markers")
    with Image.open(png) as im:
        assert im.size[0] > 300 and np.asarray(im.convert("L")).std() > 5
