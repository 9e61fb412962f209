"""The consensus of a method's seeds (senca_st.method.consensus) and the steps around it.

What it must do: give back a partition all seeds agree on whatever their
cluster ids, let the majority of seeds win, answer the same every time, and
stay O(n) in memory for 100k-spot sections.
"""

from __future__ import annotations

import tracemalloc

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from senca_st.method import catalogue as methods
from senca_st.method.consensus import consensus_clusters
from senca_st.steps import aggregate_step, consensus_step, evaluate_step


def partition(n: int = 60, k: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, n)


def renamed(labels: np.ndarray, seed: int) -> np.ndarray:
    """The same partition under other cluster ids."""
    ids = np.unique(labels)
    return np.random.default_rng(seed).permutation(ids)[np.searchsorted(ids, labels)]


def test_permuted_labels_of_one_partition_give_that_partition_back():
    truth = partition()
    runs = [truth, renamed(truth, 1), renamed(truth, 2), renamed(truth, 3) + 10]
    result = consensus_clusters(runs)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    # the ids of the reference run (the first on a tie), so one seed alone comes back unchanged
    np.testing.assert_array_equal(result.labels, truth)
    np.testing.assert_array_equal(consensus_clusters([runs[2]]).labels, runs[2])


def test_majority_of_seeds_wins():
    truth = partition(n=80)
    other = truth.copy()
    other[:20] = (other[:20] + 1) % 4  # a quarter of the spots elsewhere
    runs = [renamed(other, 5), renamed(truth, 6), truth, renamed(truth, 7), other]
    result = consensus_clusters(runs)
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.reference in (1, 2, 3)  # a run of the majority partition is the medoid


def test_each_spot_takes_its_most_frequent_region():
    """Three seeds that each disagree with the others on different spots: every spot goes 2:1."""
    truth = np.repeat(np.arange(3), 10)
    runs = []
    for i, seed in enumerate((11, 12, 13)):
        run = truth.copy()
        run[i * 3] = (run[i * 3] + 1) % 3  # one spot, a different one in each seed
        runs.append(renamed(run, seed))
    assert adjusted_rand_score(truth, consensus_clusters(runs).labels) == 1.0


def test_two_seeds_give_the_first_seed_and_the_representative_is_closest():
    a, b = partition(seed=1), partition(seed=2)
    result = consensus_clusters([a, b])
    np.testing.assert_array_equal(result.labels, a)
    assert result.reference == 0 and result.representative == 0


def test_deterministic_and_independent_of_run_order():
    rng = np.random.default_rng(4)
    truth = partition(n=300, k=5, seed=4)
    runs = []
    for s in range(5):
        run = truth.copy()
        flip = rng.random(300) < 0.15
        run[flip] = rng.integers(0, 5, flip.sum())
        runs.append(renamed(run, s))
    first = consensus_clusters(runs)
    again = consensus_clusters(runs)
    np.testing.assert_array_equal(first.labels, again.labels)
    reordered = consensus_clusters(runs[::-1])
    assert adjusted_rand_score(first.labels, reordered.labels) == 1.0
    assert adjusted_rand_score(truth, first.labels) > max(adjusted_rand_score(truth, r) for r in runs)


def test_memory_stays_linear_in_spots():
    """200k spots x 5 seeds: an n x n matrix would be 320 GB; the consensus needs tens of MB."""
    n = 200_000
    truth = partition(n=n, k=8, seed=9)
    runs = [renamed(truth, s) for s in range(5)]
    tracemalloc.start()
    try:
        result = consensus_clusters(runs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert peak < 200 * n, f"peak {peak / 2**20:.0f} MiB"


def test_bad_input():
    with pytest.raises(ValueError, match="no clusterings"):
        consensus_clusters([])
    with pytest.raises(ValueError, match="different numbers of spots"):
        consensus_clusters([np.zeros(4, int), np.zeros(5, int)])


def test_seed_list_and_the_single_seed_form():
    assert methods.run_seeds({"seeds": [3, 0, 1]}) == [0, 1, 3]
    assert methods.run_seeds({"seeds": [0, 1], "seed": 7}) == [7]
    settings = methods.run_settings({"seeds": [0, 1], "epochs": 2}, "senca_k8", 1)
    assert settings["seed"] == 1 and "seeds" not in settings and settings["k"] == 8
    # the same settings however the overlays ordered them: the train rule's params do not change
    assert list(methods.run_settings({"seed": 1, "k": 4}, "senca", 1)) == list(methods.run_settings({"k": 4, "seeds": [1]}, "senca", 1))
    assert methods.seeded("senca_rna") and not methods.seeded("rna_pca")


# --------------------------------------------------------------------------- the steps


def write_run(path, spots, clusters, seconds=None, seed=None):
    pd.DataFrame({"spot": spots, "cluster": clusters}).to_csv(path, sep="\t", index=False)
    if seconds is not None:
        emb = ad.AnnData(obs=pd.DataFrame(index=spots))
        emb.obsm["X_senca"] = np.full((len(spots), 2), float(seed), dtype=np.float32)
        emb.uns.update(embedding_key="X_senca", method="senca", seconds=seconds)
        emb.write_h5ad(path.with_suffix(".h5ad"))


def test_consensus_then_evaluate_and_aggregate(tmp_path):
    """Three seeds -> consensus clusters + the representative's embedding -> one ari.tsv row with the sd."""
    spots = [f"s{i}" for i in range(12)]
    truth = np.repeat([0, 1, 2], 4)
    off = truth.copy()
    off[0] = 1
    seeds = [0, 1, 2]
    paths = []
    for seed, clusters, secs in zip(seeds, (off, renamed(truth, 1), truth), (3.0, 5.0, 7.0)):
        path = tmp_path / f"seed{seed}.tsv"
        write_run(path, spots, clusters, seconds=secs, seed=seed)
        paths.append(path)
    consensus_step(
        [str(p) for p in paths], [str(p.with_suffix(".h5ad")) for p in paths], seeds,
        str(tmp_path / "clusters.tsv"), str(tmp_path / "embedding.h5ad"),
    )
    out = pd.read_csv(tmp_path / "clusters.tsv", sep="\t")
    assert list(out.columns) == ["spot", "cluster"] and list(out["spot"]) == spots
    assert adjusted_rand_score(truth, out["cluster"]) == 1.0
    emb = ad.read_h5ad(tmp_path / "embedding.h5ad")
    assert emb.uns["seed"] in (1, 2) and emb.uns["seconds"] == pytest.approx(5.0)
    assert emb.obsm["X_senca"][0, 0] == emb.uns["seed"]  # the representative seed's own embedding

    section = ad.AnnData(obs=pd.DataFrame({"label": np.array(["a", "b", "c"])[truth]}, index=spots))
    section.write_h5ad(tmp_path / "spots.h5ad")
    evaluate_step(
        str(tmp_path / "spots.h5ad"), str(tmp_path / "embedding.h5ad"), str(tmp_path / "clusters.tsv"),
        [str(p) for p in paths], str(tmp_path / "metrics.tsv"), str(tmp_path / "f1.tsv"), "S", "senca",
    )
    table = aggregate_step([str(tmp_path / "metrics.tsv")], [str(tmp_path / "f1.tsv")], str(tmp_path / "ari.tsv"), str(tmp_path / "rf1.tsv"))
    row = pd.read_csv(tmp_path / "ari.tsv", sep="\t").iloc[0]
    per_seed = [adjusted_rand_score(truth, c) for c in (off, truth, truth)]
    assert row["ari"] == pytest.approx(np.mean(per_seed), abs=1e-5)
    assert row["ari_sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-5)
    assert row["ari_consensus"] == 1.0 and row["n_seeds"] == 3 and row["n_clusters"] == 3
    assert row["seconds"] == pytest.approx(5.0) and len(table) == 1
