"""benchmarks/peers.py: argument parsing, the ARI rule, the runs file and the table, on tiny generated data.

GraphST, Banksy, SpaGCN and pymclustr are an optional extra (``[peers]``, installed by ``make
bench``); the tests that run them skip where they are not installed. ``senca_rna``'s row runs the
pipeline's own code and is always tested.
"""

from __future__ import annotations

import importlib.util
import math
import sys

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.metrics import adjusted_rand_score

from workflow_copy import REPO


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("peers", REPO / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("peers", None)


def tiny_section(peers, name="A1", dataset="her2st", side=10, genes=120, seed=0):
    """A ``side`` × ``side`` grid of spots in three vertical bands, each with its own marker genes;
    the first row is unlabelled (NaN) and the second 'undetermined'."""
    rng = np.random.default_rng(seed)
    rows, cols = np.divmod(np.arange(side * side), side)
    region = np.minimum(cols * 3 // side, 2)
    rate = np.full((side * side, genes), 1.0)
    for r in range(3):
        rate[np.ix_(region == r, np.arange(r * 20, r * 20 + 20))] = 8.0
    counts = rng.poisson(rate).astype(np.float32)
    names = np.array(["invasive cancer", "connective tissue", "immune infiltrate"], dtype=object)
    labels = pd.Series(names[region], index=[f"{c}x{r}" for r, c in zip(rows, cols)], name="label")
    labels.iloc[:side] = np.nan
    labels.iloc[side : 2 * side] = "undetermined"
    adata = ad.AnnData(
        X=sp.csr_matrix(counts),
        obs=pd.DataFrame({"array_row": rows, "array_col": cols}, index=labels.index),
        var=pd.DataFrame(index=[f"G{i}" for i in range(genes)]),
    )
    adata.obsm["spatial"] = np.stack([cols * 200.0 + 1000, rows * 200.0 + 1000], axis=1)
    return peers.Section(name, dataset, adata, labels)


# --------------------------------------------------------------------------- arguments


def test_parse_args_defaults(peers):
    args = peers.parse_args([])
    assert args.methods == ["graphst", "banksy", "spagcn", "senca_rna"]
    assert args.sections == ["A1", "B1", "C1", "D1", "151673", "151674"]
    assert args.seeds == [0]
    assert args.threads >= 1
    assert args.her2st_root.name == "her2st" and args.dlpfc_root.name == "dlpfc"
    assert args.pipeline_ari is None and args.out is None


def test_parse_args_selection(peers, tmp_path):
    args = peers.parse_args(
        ["--methods", "SpaGCN", "--sections", "B1, 151673", "--seeds", "0,1,2", "--threads", "1",
         "--her2st-root", str(tmp_path), "--pipeline-ari", "x.tsv", "--out", "t.tsv"]
    )
    assert args.methods == ["spagcn"] and args.sections == ["B1", "151673"] and args.seeds == [0, 1, 2]
    assert args.threads == 1 and args.her2st_root == tmp_path and str(args.pipeline_ari) == "x.tsv"
    assert peers.method_options(peers.parse_args(["--graphst-refine", "off"]), "graphst")["refine"] is False
    assert peers.method_options(peers.parse_args([]), "graphst")["refine"] is None  # auto: Visium only


@pytest.mark.parametrize(
    "argv", [["--methods", "stagate"], ["--methods", ","], ["--sections", "Z9"], ["--seeds", "a"], ["--threads", "0"]]
)
def test_parse_args_rejects(peers, argv, capsys):
    with pytest.raises(SystemExit):
        peers.parse_args(argv)
    assert "error" in capsys.readouterr().err


def test_threads_are_read_before_numpy(peers):
    assert peers._threads_from_argv(["--methods", "spagcn", "--threads", "1"]) == "1"
    assert peers._threads_from_argv(["--threads=3"]) == "3"
    assert peers._threads_from_argv([]) is None


def test_dataset_of(peers):
    assert peers.dataset_of("A1") == "her2st" and peers.dataset_of("151674") == "dlpfc"
    with pytest.raises(ValueError):
        peers.dataset_of("demo")


# --------------------------------------------------------------------------- the ARI rule


def test_run_one_leaves_out_unlabelled_and_undetermined(peers):
    sec = tiny_section(peers)
    assert sec.k == 3  # 'undetermined' and NaN are not regions
    truth = pd.factorize(sec.labels.fillna("x"))[0]
    clusters = truth.copy()
    clusters[: 2 * 10] = np.arange(20) % 3 + 2  # the left-out spots (codes 0, 1) put in the regions' clusters at random

    seen = {}

    def runner(section, k, seed, **options):
        seen.update(k=k, seed=seed, **options)
        return clusters, "fake"

    r = peers.run_one(sec, "fake", 7, 1, runner=runner, extra=1)
    assert seen == {"k": 3, "seed": 7, "extra": 1}
    assert r["ari"] == pytest.approx(1.0) and r["nmi"] == pytest.approx(1.0)
    assert r["n_annotated"] == 80 and r["n_spots"] == 100 and r["k"] == 3 and r["n_found"] == 3
    assert r["note"] == "fake" and r["seconds"] >= 0
    # and the same number as scoring the annotated spots by hand
    wrong = clusters.copy()
    wrong[20:30] = 0
    r = peers.run_one(sec, "fake", 0, 1, runner=lambda *a, **k: (wrong, ""))
    keep = sec.labels.notna().to_numpy() & (sec.labels != "undetermined").to_numpy()
    assert r["ari"] == pytest.approx(adjusted_rand_score(sec.labels[keep], wrong[keep]))


def test_dlpfc_labels_nan_are_left_out(peers, tmp_path):
    sec = tiny_section(peers)
    a = sec.adata.copy()
    a.obs["layer"] = pd.Categorical(sec.labels.replace("undetermined", np.nan))
    a.write_h5ad(tmp_path / "151673.h5ad")
    d = peers.read_section("151673", tmp_path / "nowhere", tmp_path)
    assert d.dataset == "dlpfc" and d.visium and d.k == 3
    annotated = d.labels.notna() & (d.labels.astype(str) != "undetermined")  # the pipeline's reader: NaN -> undetermined
    assert int(annotated.sum()) == 80


def test_a_failed_run_is_recorded_not_raised(peers, capsys):
    def boom(*a, **k):
        raise RuntimeError("out of patience\nsecond line")

    r = peers.run_one(tiny_section(peers), "fake", 0, 1, runner=boom)
    assert math.isnan(r["ari"]) and r["note"] == "failed: RuntimeError: out of patience"
    assert "out of patience" in capsys.readouterr().err


# --------------------------------------------------------------------------- runs file and table


def record(peers, section, method, seed, ari, dataset="her2st", seconds=10.0):
    return {
        "section": section, "dataset": dataset, "method": method, "seed": seed, "ari": ari, "nmi": ari / 2,
        "seconds": seconds, "n_spots": 100, "n_annotated": 80, "k": 3, "n_found": 3, "threads": 1, "note": "",
    }


def test_runs_file_replaces_a_rerun_and_keeps_the_rest(peers, tmp_path):
    runs = tmp_path / "sub" / "runs.tsv"
    peers.add_run(runs, record(peers, "A1", "spagcn", 0, 0.1))
    peers.add_run(runs, record(peers, "151673", "spagcn", 0, 0.2, dataset="dlpfc"))
    peers.add_run(runs, record(peers, "A1", "spagcn", 0, 0.3))
    df = peers.read_runs(runs)
    assert sorted(zip(df["section"], df["ari"])) == [("151673", 0.2), ("A1", 0.3)]
    assert df["section"].dtype == object  # '151673' stays a section id, not a number
    assert not list(runs.parent.glob(".*.tmp*"))  # no temporary left behind


def test_table_means_sds_pipeline_rows_and_dataset_means(peers, tmp_path):
    recs = []
    for s, base in (("A1", 0.5), ("B1", 0.3)):
        for seed, d in ((0, -0.1), (1, 0.1)):
            recs.append(record(peers, s, "graphst", seed, base + d))
            recs.append(record(peers, s, "spagcn", seed, base / 2, seconds=4.0))
    recs.append(record(peers, "151673", "spagcn", 0, 0.4, dataset="dlpfc"))
    recs.append(record(peers, "151674", "spagcn", 0, 0.2, dataset="dlpfc"))
    recs.append(record(peers, "151673", "graphst", 0, 0.6, dataset="dlpfc"))  # none for 151674
    runs = pd.DataFrame(recs)
    ari = tmp_path / "ari.tsv"
    pd.DataFrame(
        {"sample": ["A1", "B1", "151673", "A1", "C1"], "method": ["senca_rna", "senca_rna", "senca_rna", "rna_pca", "senca_rna"],
         "ari": [0.7, 0.3, 0.5, 0.1, 0.2], "ari_sd": [0.01, 0.02, 0.03, 0, 0], "nmi": [0.6, 0.2, 0.4, 0.1, 0.1],
         "n_spots": 1, "n_clusters": [5, 4, 7, 5, 3], "seconds": [8.0, 6.0, 30.0, 1.0, 1.0]}
    ).to_csv(ari, sep="\t", index=False)
    sections = ["A1", "B1", "151673", "151674"]
    pipe = peers.pipeline_runs(ari, sections)
    assert set(pipe["method"]) == {"senca_rna (ari.tsv)"} and set(pipe["section"]) == {"A1", "B1", "151673"}  # not C1, rna_pca
    table = peers.build_table(runs, pipe, sections)

    assert list(table.index) == ["A1", "B1", "151673", "151674", "mean her2st", "mean dlpfc"]
    assert table.loc["A1", ("graphst", "ari")] == pytest.approx(0.5)
    assert table.loc["A1", ("graphst", "ari_sd")] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert table.loc["A1", ("graphst", "n_seeds")] == 2
    assert table.loc["A1", ("spagcn", "seconds")] == pytest.approx(4.0)
    assert table.loc["151673", ("senca_rna (ari.tsv)", "ari_sd")] == pytest.approx(0.03)
    assert table.loc["mean her2st", ("graphst", "ari")] == pytest.approx(0.4)
    assert table.loc["mean her2st", ("senca_rna (ari.tsv)", "ari")] == pytest.approx(0.5)
    assert table.loc["mean dlpfc", ("spagcn", "ari")] == pytest.approx(0.3)
    assert math.isnan(table.loc["mean dlpfc", ("graphst", "ari")])  # lacks 151674: no mean over fewer sections
    assert math.isnan(table.loc["mean dlpfc", ("senca_rna (ari.tsv)", "ari")])
    assert table.loc["A1", ("", "dataset")] == "her2st" and table.loc["151673", ("", "k")] == 3

    text = peers.format_table(table)
    lines = text.splitlines()
    assert lines[0].split() == ["graphst", "spagcn", "senca_rna", "(ari.tsv)"]
    assert lines[1].split()[:7] == ["section", "dataset", "k", "ARI", "sd", "NMI", "s"]
    assert any(ln.startswith("mean her2st") and "0.400" in ln for ln in lines)
    assert "means over seeds" in text

    out = tmp_path / "t.tsv"
    peers.write_tsv(peers.flat_table(table), out)
    back = pd.read_csv(out, sep="\t", dtype={"section": str})
    assert list(back.columns[:4]) == ["section", "dataset", "k", "graphst_ari"]
    assert back.set_index("section").loc["mean her2st", "graphst_ari"] == pytest.approx(0.4)


def test_main_reuses_runs_and_writes_the_table(peers, tmp_path, monkeypatch, capsys):
    calls = []

    def fake(section, k, seed, **options):
        calls.append((section.name, seed))
        return pd.factorize(section.labels.fillna("x"))[0], "fake"

    monkeypatch.setattr(peers, "require", lambda method: None)
    monkeypatch.setattr(peers, "run_spagcn", fake)
    monkeypatch.setattr(peers, "read_section", lambda s, h, d: tiny_section(peers, name=s))
    argv = ["--methods", "spagcn", "--sections", "A1,B1", "--seeds", "0,1", "--threads", "1",
            "--runs", str(tmp_path / "runs.tsv"), "--out", str(tmp_path / "table.tsv")]
    assert peers.main(argv) == 0
    assert sorted(calls) == [("A1", 0), ("A1", 1), ("B1", 0), ("B1", 1)]
    printed = capsys.readouterr().out
    assert "spagcn" in printed and "mean her2st" in printed
    assert peers.main(argv) == 0  # everything reused
    assert len(calls) == 4
    table = pd.read_csv(tmp_path / "table.tsv", sep="\t")
    assert list(table["section"]) == ["A1", "B1", "mean her2st"]
    assert (table["spagcn_ari"] == 1.0).all() and (table["spagcn_n_seeds"].iloc[:2] == 2).all()
    # --table-only runs nothing, not even what is missing (C1), and needs no peer installed
    monkeypatch.setattr(peers, "require", None)
    only = argv[:3] + ["A1,B1,C1"] + argv[4:] + ["--table-only"]
    assert peers.main(only) == 0
    assert len(calls) == 4
    assert "2 run(s) of these sections, methods and seeds have no result yet" in capsys.readouterr().err  # C1, 2 seeds
    with pytest.raises(SystemExit):
        peers.parse_args(["--table-only"])


# --------------------------------------------------------------------------- the peers themselves


def test_graphst_runs_on_a_tiny_section(peers):
    pytest.importorskip("GraphST")
    pytest.importorskip("ot")
    pytest.importorskip("skmisc")
    pytest.importorskip("leidenalg")
    sec = tiny_section(peers)
    r = peers.run_one(sec, "graphst", 0, 1, epochs=20, cluster="leiden", refine=None)
    assert not r["note"].startswith("failed"), r["note"]
    assert r["n_found"] == 3 and 0.0 <= r["nmi"] <= 1.0 and "refined" not in r["note"]  # ST: no refinement


def test_spagcn_runs_on_a_tiny_section(peers):
    pytest.importorskip("SpaGCN")
    try:
        peers.require("spagcn")
    except ImportError as err:
        pytest.skip(str(err))
    sec = tiny_section(peers)
    r = peers.run_one(sec, "spagcn", 0, 1)
    assert not r["note"].startswith("failed"), r["note"]
    assert "refined (square)" in r["note"] and r["n_spots"] == 100 and 0.0 <= r["nmi"] <= 1.0


def run_on_tiny(peers, method: str, *needs: str, section=None, **options) -> dict:
    """``method`` on a tiny section (skipped where a module it needs is missing); the run's record, not failed."""
    for module in needs:
        pytest.importorskip(module)
    r = peers.run_one(section or tiny_section(peers), method, 0, 1, **options)
    assert not r["note"].startswith("failed"), r["note"]
    return r


def test_graphst_clusters_with_mclust_by_default(peers):
    r = run_on_tiny(peers, "graphst", "GraphST", "mclust_py", epochs=20)
    assert r["note"] == "mclust EEE" and r["n_found"] == 3


def test_mclust_eee_finds_separated_groups_without_a_seed(peers):
    pytest.importorskip("mclust_py")
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 60)
    X = rng.normal(size=(180, 4)) + np.array([[0, 0, 0, 0], [6, 0, 0, 0], [0, 6, 0, 0]])[truth]
    got = peers.mclust_eee(X * 1e3, 3)  # a common scale does not matter to EEE
    assert adjusted_rand_score(truth, got) == pytest.approx(1.0)
    assert np.array_equal(got, peers.mclust_eee(X * 1e3, 3))  # deterministic: mclust's hierarchical start


def test_banksy_runs_on_a_tiny_section(peers):
    # 5 components: the recipe's 25 leave mclust's EEE degenerate on 100 spots of 120 genes
    r = run_on_tiny(peers, "banksy", "banksy", "mclust_py", pcs=5)
    assert r["note"].startswith("lambda 0.2, k_geom 4, PCA 5") and r["n_found"] == 3  # ST: 4 first neighbours
    assert r["ari"] > 0.9  # three bands of their own marker genes


def test_senca_rna_row_is_the_pipelines_own_run(peers):
    sec = tiny_section(peers)
    sec.adata.X[5] = 0  # a spot with no counts: preprocessing leaves it out, yet every spot is scored
    r = run_on_tiny(peers, "senca_rna", section=sec)
    assert r["note"].startswith("pipeline settings: seurat HVGs, gmm on 10 PCs, refine isolated") and "1 spot(s) preprocessing left out" in r["note"]
    assert r["n_spots"] == 100 and r["n_found"] == 3 and r["ari"] > 0.9


def test_senca_rna_takes_config_overlays(peers, tmp_path):
    overlay = tmp_path / "visium.yaml"
    overlay.write_text("preprocess:\n  hvg_flavor: cell_ranger\ncluster:\n  refine: 4\n")
    args = peers.parse_args(["--methods", "senca_rna", "--configfile", str(overlay)])
    r = run_on_tiny(peers, "senca_rna", **peers.method_options(args, "senca_rna"))
    assert r["note"].startswith("pipeline settings: cell_ranger HVGs, gmm on 10 PCs, refine 4")
    assert r["n_found"] == 3 and r["ari"] > 0.9
