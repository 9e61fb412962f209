"""Groups of sections analysed together (senca_st.method.groups) and the number of regions chosen from the embedding.

The workflow test runs a generated group of two serial demo sections (same
regions and gene programmes; the second at half the depth, each gene's level
shifted, its own sampling noise) and checks that the joint regions recover the
shared regions with one id across both sections, that ``ari.tsv``,
``groups.tsv``, the per-section ``<method>_joint/clusters.tsv`` and the group
figure are written, and that adding a section to a group reruns that group's
joint jobs only.
"""

from __future__ import annotations

import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from senca_st import steps
from senca_st.errors import InputError
from senca_st.method.clustering import choose_n_clusters, cluster_spots
from senca_st.method.groups import combine_sections, matched_regions, mixing_score, regions_by_sections, side_by_side
from senca_st.method.model.graph import neighbour_index
from senca_st.samplesheet import load_sample_sheet
from workflow_copy import copy_workflow, run_snakemake, write_overlay


def _section(rng: np.random.Generator, n: int, genes: list[str], depth: float, label: bool) -> ad.AnnData:
    side = int(np.ceil(np.sqrt(n)))
    xy = np.array([(i % side, i // side) for i in range(n)], dtype=float) * 100.0
    a = ad.AnnData(X=rng.poisson(depth, (n, len(genes))).astype(np.float32), obs=pd.DataFrame(index=[f"{int(x/100)}x{int(y/100)}" for x, y in xy]))
    a.var_names = genes
    a.obsm["spatial"] = xy
    if label:
        a.obs["label"] = np.where(xy[:, 0] < xy[:, 0].mean(), "left", "right")
    return a


def test_combine_sections_keeps_sections_apart_and_standardises_each():
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(60)]
    a = _section(rng, 64, genes, 5.0, label=True)
    b = _section(rng, 49, genes[5:] + ["ONLY_B"], 2.0, label=False)
    keep_a = a.obs_names[1:]  # what a's own preprocessing kept
    joint = combine_sections({"s1": a, "s2": b}, {"s1": keep_a, "s2": b.obs_names}, n_top_genes=30)
    assert joint.n_obs == 63 + 49
    assert list(joint.obs["section"].cat.categories) == ["s1", "s2"]
    assert joint.obs_names[0] == f"s1:{keep_a[0]}" and set(joint.obs["spot"][:63]) == set(keep_a)
    assert "ONLY_B" not in joint.var_names and not {"G0", "G1"} & set(joint.var_names)
    section = joint.obs["section"].to_numpy()
    for s in ("s1", "s2"):
        X = joint.X[section == s]
        np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-4)
        sd = X.std(axis=0)
        # every gene varying in the section has unit spread there (depth differences do not survive)
        assert (sd > 0).any()
        np.testing.assert_allclose(sd[sd > 0], 1.0, rtol=1e-4)
    # labels kept where given, missing for the unlabelled section
    assert joint.obs["label"][section == "s1"].notna().all() and joint.obs["label"][section == "s2"].isna().all()
    # no spot's graph neighbours (k up to 16) lie in the other section
    for k in (4, 16):
        index = neighbour_index(joint.obsm["spatial"], k).numpy()
        assert (section[index] == section[:, None]).all()
    np.testing.assert_allclose(joint.obsm["spatial_section"][section == "s2"], b.obsm["spatial"])
    # the group's genes are ranked by preprocess.hvg_flavor, as a section's are
    by = {f: combine_sections({"s1": a, "s2": b}, n_top_genes=30, hvg_flavor=f).var_names for f in ("seurat", "seurat_v3")}
    assert set(by["seurat"]) != set(by["seurat_v3"])


def test_combine_sections_refuses_one_section_and_no_shared_gene():
    rng = np.random.default_rng(1)
    a = _section(rng, 16, ["A", "B"], 3.0, label=False)
    with pytest.raises(InputError, match="at least two sections"):
        combine_sections({"s1": a})
    b = _section(rng, 16, ["C", "D"], 3.0, label=False)
    with pytest.raises(InputError, match="no gene in common"):
        combine_sections({"s1": a, "s2": b})


def test_side_by_side_gap_exceeds_every_section():
    coords = side_by_side({"a": np.array([[0.0, 0.0], [10.0, 5.0]]), "b": np.array([[500.0, 500.0], [530.0, 520.0]])})
    assert coords["b"][:, 0].min() - coords["a"][:, 0].max() > 30.0


def test_mixing_score_and_shared_regions():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 5))
    section = np.repeat(["a", "b"], 200)
    assert mixing_score(X, section) > 0.85  # sections drawn alike: mixed
    apart = X + np.where(section == "a", 0.0, 100.0)[:, None]
    assert mixing_score(apart, section) == 0.0
    clusters = np.r_[np.zeros(150), np.ones(50), np.zeros(198), [2, 2]].astype(int)
    where = regions_by_sections(clusters, section)
    assert where == {0: ["a", "b"], 1: ["a"], 2: []}, "2 spots are below the 3-spot floor: region 2 occurs nowhere"


def _shifted_sections(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sections with the same four regions in other proportions, the second moved as a whole by more than regions lie apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(4, 8))
    shift = rng.normal(size=8)
    shift *= 12.0 / np.linalg.norm(shift)
    X, truth, section = [], [], []
    for name, sizes, moved in (("a", [150, 150, 150, 150], 0.0), ("b", [300, 60, 150, 90], 1.0)):
        for region, n in enumerate(sizes):
            X.append(centres[region] + moved * shift + rng.normal(size=(n, 8)))
            truth += [region] * n
            section += [name] * n
    return np.vstack(X), np.array(truth), np.array(section)


def test_matched_regions_share_ids_across_a_shifted_section():
    from sklearn.metrics import adjusted_rand_score

    X, truth, section = _shifted_sections()
    regions = matched_regions(X, section, 4, n_components=8, seed=0)
    # one id per true region across both sections, each section's partition exact
    assert adjusted_rand_score(truth, regions) == 1.0
    # one mixture on both sections' spots splits by section instead (what the matched rule avoids)
    assert adjusted_rand_score(truth, cluster_spots(X, 4, n_components=8, seed=0)) < 0.5


def test_cluster_step_matches_a_groups_sections_unless_pooled(tmp_path):
    from sklearn.metrics import adjusted_rand_score

    X, truth, section = _shifted_sections()
    names = [f"{s}:{i}" for i, s in enumerate(section)]
    emb = ad.AnnData(obs=pd.DataFrame(index=names))
    emb.obsm["X_senca"] = X.astype(np.float32)
    emb.uns["embedding_key"] = "X_senca"
    emb.write_h5ad(tmp_path / "embedding.h5ad")
    ad.AnnData(obs=pd.DataFrame({"section": section}, index=names)).write_h5ad(tmp_path / "spots.h5ad")
    found = {}
    for rule in ("matched", "pooled"):
        out = tmp_path / f"{rule}.tsv"
        steps.cluster_step(
            str(tmp_path / "embedding.h5ad"), str(tmp_path / "spots.h5ad"), str(out), 4, 5, pcs=8, group_regions=rule, refine=0
        )
        found[rule] = adjusted_rand_score(truth, pd.read_csv(out, sep="\t")["cluster"])
    assert found["matched"] == 1.0 and found["pooled"] < 0.5, found


def test_choose_n_clusters_finds_the_knee():
    rng = np.random.default_rng(3)
    centres = rng.normal(scale=12.0, size=(5, 8))
    X = np.vstack([c + rng.normal(size=(120, 8)) for c in centres])
    choice = choose_n_clusters(X, n_components=8, seed=0)
    assert choice.n_clusters == 5
    assert choice.runner_up != 5 and set(choice.bic) == set(range(3, 11))
    assert "runner-up" in choice.describe()


def test_cluster_step_auto_logs_choice(tmp_path, caplog):
    rng = np.random.default_rng(4)
    X = np.vstack([c + rng.normal(size=(80, 6)) for c in rng.normal(scale=10.0, size=(4, 6))])
    names = [f"s{i}" for i in range(len(X))]
    emb = ad.AnnData(obs=pd.DataFrame(index=names))
    emb.obsm["X_senca"] = X.astype(np.float32)
    emb.uns["embedding_key"] = "X_senca"
    emb.write_h5ad(tmp_path / "embedding.h5ad")
    ad.AnnData(obs=pd.DataFrame(index=names)).write_h5ad(tmp_path / "spots.h5ad")
    with caplog.at_level("INFO", logger="senca_st"):
        steps.cluster_step(
            str(tmp_path / "embedding.h5ad"), str(tmp_path / "spots.h5ad"), str(tmp_path / "c.tsv"), "auto", 5, pcs=6, refine=0
        )
    assert pd.read_csv(tmp_path / "c.tsv", sep="\t")["cluster"].nunique() == 4
    assert re.search(r"n_clusters auto: 4 regions .*runner-up \d+", caplog.text)


SHEET_GROUP = "sample\tdataset\tgroup\tn_clusters\n"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("a\tdemo\tg\t\nb\tdemo\t\t\n", "group 'g' has one section"),
        ("a\tdemo\tg\t5\nb\tdemo\tg\t4\n", "different n_clusters"),
        ("groups\tdemo\tg\t\nb\tdemo\tg\t\n", "taken by the groups' results folder"),
        ("a\tdemo\tg\tmany\nb\tdemo\tg\tmany\n", "is not a whole number"),
    ],
)
def test_sheet_refuses_bad_groups(tmp_path, repo, rows, problem):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(SHEET_GROUP + rows)
    with pytest.raises(InputError, match=re.escape(problem)) as err:
        load_sample_sheet(sheet, repo / "config" / "schemas" / "samples.schema.yaml")
    assert str(sheet) in str(err.value)


def test_sheet_takes_groups_and_auto(tmp_path, repo):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(SHEET_GROUP + "a\tdemo\tg\tauto\nb\tdemo\tg\tauto\nc\tdemo\t\t4\n")
    table = load_sample_sheet(sheet, repo / "config" / "schemas" / "samples.schema.yaml")
    assert list(table["group"]) == ["g", "g", ""] and list(table["n_clusters"]) == ["auto", "auto", "4"]


# --------------------------------------------------------------------------- workflow

GROUP_SHEET = "sample\tdataset\tgroup\nserialA\tdemo\tg1\nserialB\tdemo\tg1\n"
GROUP_CONFIG = """samples: config/samples_group.tsv
train:
  epochs: 3
  seeds: [0]
methods:
  with_image: [rna_pca]
  without_image: [rna_pca]
groups:
  methods: [senca_rna, rna_pca]
"""


@pytest.fixture(scope="module")
def group_run(tmp_path_factory):
    wf = copy_workflow(tmp_path_factory.mktemp("groups") / "wf")
    (wf / "config" / "samples_group.tsv").write_text(GROUP_SHEET)
    config = ["--configfile", str(write_overlay(wf, GROUP_CONFIG, name="group.yaml"))]
    proc = run_snakemake(wf, "all", *config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return wf, config


@pytest.mark.slow
def test_group_recovers_shared_regions_with_one_id(group_run):
    wf, _ = group_run
    labels = {s: pd.read_csv(wf / f"resources/demo/{s}/labels.tsv", sep="\t") for s in ("serialA", "serialB")}
    majority = {}
    for s, lab in labels.items():
        lab["spot"] = lab["x"].astype(str) + "x" + lab["y"].astype(str)
        cl = pd.read_csv(wf / f"results/{s}/methods/senca_rna_joint/clusters.tsv", sep="\t", dtype={"spot": str})
        merged = lab.merge(cl, on="spot")
        assert len(merged) == len(cl)
        majority[s] = merged.groupby("label")["cluster"].agg(lambda c: c.value_counts().idxmax()).to_dict()
    # one id per region in both sections (immune infiltrate and cancer in situ share their RNA: one region)
    assert majority["serialA"] == majority["serialB"]
    assert len(set(majority["serialA"].values())) >= 4
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t", dtype={"group": str}, keep_default_na=False)
    joint = ari[ari["method"] == "senca_rna_joint"]
    assert set(joint["sample"]) == {"serialA", "serialB"} and set(joint["group"]) == {"g1"}
    assert (joint["ari"] > 0.45).all(), joint
    assert set(ari.loc[ari["method"] == "rna_pca", "group"]) == {""}
    groups = pd.read_csv(wf / "results/metrics/groups.tsv", sep="\t", keep_default_na=False)
    assert set(groups["method"]) == {"senca_rna", "rna_pca"}
    row = groups.set_index("method").loc["senca_rna"]
    assert row["sections"] == "serialA,serialB" and row["regions_shared"] == row["n_regions"] == 5
    assert row["mixing"] > 0.5 and row["ari_pooled"] > 0.45
    assert (wf / "results/report/groups/g1.png").stat().st_size > 10_000
    # the group's shared regions get their markers from both sections' spots
    markers = pd.read_csv(wf / "results/groups/g1/region_markers.tsv", sep="\t", dtype={"region": str})
    joint_ids = set()
    for s in ("serialA", "serialB"):
        joint = pd.read_csv(wf / f"results/{s}/methods/senca_rna_joint/clusters.tsv", sep="\t")
        joint_ids |= set(joint["cluster"].astype(str))
    assert set(markers["region"]) == joint_ids and (markers.loc[markers["rank"] == 1, "pval_adj"] < 1e-3).all()


@pytest.mark.slow
def test_adding_a_section_reruns_that_groups_joint_jobs_only(group_run):
    from test_reruns import planned_jobs

    wf, config = group_run
    (wf / "config" / "samples_group.tsv").write_text(GROUP_SHEET + "serialC\tdemo\tg1\n")
    try:
        proc = run_snakemake(wf, "-n", "all", *config)
        jobs = planned_jobs(proc.stdout + proc.stderr)
    finally:
        (wf / "config" / "samples_group.tsv").write_text(GROUP_SHEET)
    samples = {wc.get("sample") for _, wc in jobs}
    rules = {rule for rule, _ in jobs}
    assert {"group_preprocess", "train", "group_metrics"} <= rules
    assert "serialC" in samples and "groups/g1" in samples
    # serialA's and serialB's own (single-section) jobs stay; only their joint parts are redone
    # section.h5ad holds the joint regions too: it and what reads it are redone, nothing upstream
    readers = {"section_anndata", "region_markers", "section_figure", "marker_figure"}
    mine = [(rule, wc) for rule, wc in jobs if wc.get("sample") in ("serialA", "serialB")]
    redone = {(rule, wc.get("run", wc.get("method", ""))) for rule, wc in mine if rule not in readers}
    assert redone and all("_joint" in what for _, what in redone), redone
    assert {rule for rule, _ in mine} & readers == readers


def test_standardised_leaves_a_gene_without_spread_at_zero():
    """A gene one section does not express is 0 there after standardising, not NaN."""
    from senca_st.method.scaling import standardised

    X = np.column_stack([np.full(10, 3.0), np.arange(10.0)]).astype(np.float32)
    Z = standardised(X)
    assert np.isfinite(Z).all() and (Z[:, 0] == 0).all()
    np.testing.assert_allclose([Z[:, 1].mean(), Z[:, 1].std()], [0.0, 1.0], atol=1e-6)
