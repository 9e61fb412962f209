"""benchmarks/rna_input.py: the count-split gene reliability it measures with."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from workflow_copy import REPO


@pytest.fixture(scope="module")
def rna_input():
    # the script imports its sibling benchmark modules (loso, peers) by name
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("rna_input", REPO / "benchmarks" / "rna_input.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
        for name in ("rna_input", "loso", "peers"):
            sys.modules.pop(name, None)


def grid(side: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(side * side), side)
    return np.column_stack([cols, rows]).astype(float)


def test_reliability_separates_counting_noise_from_expression(rna_input):
    rng = np.random.default_rng(0)
    spots = 400
    varying = rng.gamma(2.0, 10.0, spots)  # a gene whose level differs from spot to spot
    steady = np.full(spots, 20.0)  # the same level everywhere: its variation is counting noise alone
    other = rng.poisson(200.0, (spots, 20))  # the rest of the spot's counts
    counts = np.column_stack([rng.poisson(varying), rng.poisson(steady), other])
    r = rna_input.reliability(counts)
    assert r.shape == (22,)
    assert ((r >= 0) & (r <= 1)).all()
    assert r[0] > 0.8
    assert r[1] < 0.2


def test_gene_consensus_pairs_each_gene_count_with_a_rotated_seed(rna_input):
    import pandas as pd

    truth = np.repeat([0, 1], 10)
    across = np.tile([0, 1], 10)  # a split that shares nothing with the truth
    by_count = {n: {seed: truth for seed in (0, 1, 2)} for n in (1000, 2000, 3000)}
    by_count[2000][1] = across
    by_count[3000][2] = across
    runs = {("seurat", 0, "unit", 20, 10, 0, "A1"): {"labels": pd.Series(truth.astype(str)), **by_count}}
    rows = rna_input.gene_consensus_rows(runs, [1000, 2000, 3000], [0, 1, 2])
    assert [r["seed"] for r in rows] == [0, 1, 2]
    assert {r["genes"] for r in rows} == {"1000+2000+3000"}
    # rotation 0 takes 1000 at seed 0, 2000 at seed 1 and 3000 at seed 2: two of three runs are the
    # wrong split and outvote the third; rotations 1 and 2 take the good runs only
    aris = [r["ari"] for r in rows]
    assert aris[0] < 0.1
    assert aris[1] == aris[2] == 1.0
    assert rna_input.gene_consensus_rows(runs, [3000], [0, 1, 2]) == []


def test_reselected_builds_the_input_from_the_genes_that_tell_the_regions_apart(rna_input):
    from sklearn.metrics import adjusted_rand_score

    rng = np.random.default_rng(0)
    xy = grid(12)
    left = (xy[:, 0] < 6).astype(int)
    top = (xy[:, 1] < 6).astype(int)
    X = rng.normal(0.0, 1.0, (len(xy), 30))
    X[:, :5] += 3.0 * left[:, None]  # genes 0-4 mark left from right, 5-9 top from bottom, the rest are noise
    X[:, 5:10] += 3.0 * top[:, None]
    X = X.astype(np.float32)
    for regions in (left, top):
        out = dict(rna_input.reselected(X, xy, regions, [5], "unit", 3, 4, 2, 0.5, 2, 0, False))
        assert adjusted_rand_score(regions, out[5]) == 1.0
    assert list(rna_input.reselected(X, xy, left, [], "unit", 3, 4, 2, 0.5, 2, 0, False)) == []


def test_partly_normalised_keeps_as_much_depth_as_the_exponent_says(rna_input):
    import anndata as ad

    from senca_st.method.preprocess import preprocess_section

    rng = np.random.default_rng(0)
    spots, genes = 300, 60
    depth = rng.choice([1.0, 3.0], spots)  # two depths, as DLPFC's grey and white matter differ
    counts = rng.poisson(rng.gamma(2.0, 2.0, genes)[None, :] * depth[:, None]).astype(np.float32)
    raw = ad.AnnData(counts, obsm={"spatial": grid(20)[:spots]})
    raw.obs_names = [f"s{i}" for i in range(spots)]
    raw.var_names = [f"g{j}" for j in range(genes)]
    every = preprocess_section(raw, n_top_genes=genes, min_spots_per_gene=1, min_counts_per_spot=1)
    # exponent 1 is the pipeline's own normalisation and gene choice
    whole = rna_input.partly_normalised(every, "seurat", 20, 1.0)
    pipeline = preprocess_section(raw, n_top_genes=20, min_spots_per_gene=1, min_counts_per_spot=1)
    assert list(whole.var_names) == list(pipeline.var_names)
    np.testing.assert_allclose(whole.X, pipeline.X, rtol=1e-5, atol=1e-5)
    # every gene kept, a spot's normalised total is 10,000 x (its size factor)^(1 - exponent): the
    # deep spots' totals stand to the shallow ones' as the depths (3) to that power
    totals = counts.sum(axis=1)
    factor = totals / np.median(totals)
    for exponent in (0.0, 0.5, 1.0):
        out = rna_input.partly_normalised(every, "seurat", genes, exponent)
        assert out.n_vars == genes
        per_spot = np.expm1(out.X.astype(np.float64)).sum(axis=1)
        np.testing.assert_allclose(per_spot, 1e4 * factor ** (1 - exponent), rtol=1e-4)
        ratio = per_spot[depth == 3].mean() / per_spot[depth == 1].mean()
        assert abs(np.log(ratio) - (1 - exponent) * np.log(3)) < 0.1
    with pytest.raises(ValueError, match="seurat_v3"):
        rna_input.partly_normalised(every, "seurat_v3", 20, 0.5)
