"""Probe the RNA branch's input without training: smoothed principal components, clustered as the pipeline does.

A measurement script, not a test::

    python benchmarks/rna_input.py --scalings unit,pareto,centred,unit_clip10 --npcs 20,30 --pcs 10,20 --seeds 0,1,2
    python benchmarks/rna_input.py --hvgs seurat,seurat_v3,cell_ranger --scalings unit --seeds 0,1,2,3,4
    python benchmarks/rna_input.py --n-top-genes 1000,2000,3000,4000,6000 --scalings unit --seeds 0,1,2,3,4
    python benchmarks/rna_input.py --hvgs seurat,seurat_v3 --scalings unit --refine 0,6,18,50 --seeds 0,1,2,3,4
    python benchmarks/rna_input.py --hvgs seurat,seurat_v3 --hvg-spots 500,1000 --scalings unit --sections 151673,151674
    python benchmarks/rna_input.py --reselect 1000,3000 --scalings unit --seeds 0,1,2,3,4
    python benchmarks/rna_input.py --n-top-genes 1500,2121,3000,4243,6000 --gene-consensus --scalings unit --seeds 0,1,2,3,4
    python benchmarks/rna_input.py --size-exponents 1,0.75,0.5,0.25 --scalings unit --seeds 0,1,2,3,4

``senca_rna`` reads the top ``train.rna_pcs`` principal components of the HVG
expression and smooths them over the spot graph (``train.hops`` personalised
PageRank hops keeping ``train.alpha``) before its graph-transformer layer.
This script stops there: the smoothed components themselves are clustered
(``cluster.method`` gmm on ``cluster.pcs`` components, or mclust's EEE with its
hierarchical start through ``pymclustr`` with ``--mclust``) and scored with the
pipeline's ARI rule on HER2ST A1-D1 and DLPFC 151673/151674.  It answers two
questions in seconds rather than the hours a trained grid takes: how much the
trained network adds to (or takes from) its input, and which gene scaling
carries over across both datasets.

``--hvgs`` picks the genes with each of scanpy's HVG flavours the pipeline's
preprocessing takes (``senca_st.method.preprocess.HVG_FLAVORS``; the pipeline's own is
``seurat``; ``seurat_v3`` needs scikit-misc, the ``peers`` extra), and ``--n-top-genes`` how
many (``preprocess.n_top_genes`` by default).  ``--hvg-spots N`` ranks the genes on N spots drawn at
random (draws 0-2, each scored and averaged) and builds the whole section's input from them: does
a flavour's lead on a dataset follow from how many spots its statistics see, or from the data?

``--gene-consensus`` adds, for two or more ``--n-top-genes``, the consensus of one run per gene
count (the pipeline's seeds' rule, :func:`senca_st.method.consensus.consensus_clusters`): an
ensemble over how many genes, where the pipeline's seeds are an ensemble over the mixture's and
the network's randomness.  Rotation i pairs count j with seed i + j; the rotations (as many as
seeds) are scored and averaged as seeds are.

``--reselect N`` asks whether the first regions can choose better genes than their variance does:
every gene the filters keep is ranked by its F statistic between the regions the mixture found
(one-way ANOVA on the log expression), and the input is rebuilt from the top N and clustered again
with the same seed (scaling and widths as the row's, but not for the scalings that read counts
or the partly normalised inputs of ``--size-exponents``; no refinement).

``--size-exponents B`` asks how much of a spot's depth to keep: the counts are divided by the
spot's size factor (its total over the median total) raised to B, not by the size factor itself,
before log1p, and the HVGs are chosen on that scale, on all spots (flavours that read the log data
only; ``--hvg-spots`` applies to B = 1 alone).  B = 1 is the pipeline's normalisation (to 10,000
counts a spot); B = 0 keeps the depth whole.  Total
counts differ between DLPFC's layers, which is what ``seurat_v3``'s raw-count ranking picks up
(docs/benchmarks.md, "What GraphST's lead on DLPFC is made of").

``--refine N`` relabels each spot, after clustering, with the commonest region among its N nearest
spots (itself not counted; ties to the nearest), GraphST's ``refine_label`` (its tutorial's N is 50
on Visium); 0 leaves the regions as clustered.  It is the pipeline's ``cluster.refine``
(:func:`senca_st.method.clustering.refine_labels`), off by default (docs/benchmarks.md).

Gene scalings before PCA (genes centred in all of them):

- ``unit``: each gene divided by its sd (the pipeline's; every HVG weighs the same);
- ``pareto``: divided by the square root of its sd (Pareto scaling, halfway);
- ``centred``: not scaled (scanpy's PCA without ``sc.pp.scale``; highly expressed genes weigh most);
- ``unit_clip10``: unit, then clipped to [-10, 10] (GraphST's ``sc.pp.scale(max_value=10)``);
- ``pearson``: analytic Pearson residuals of the same HVGs' raw counts (scanpy's
  ``normalize_pearson_residuals``, theta 100, clipped at sqrt(spots)), a variance-stabilised
  scale in place of the log-normalised one;
- ``reliable``: unit, then each gene times the square root of its reliability, so that its
  variance is the share not due to counting noise.  The reliability is read off the counts
  themselves: each spot's counts split in two by binomial thinning (two independent Poisson halves
  of the same expression), both halves log-normalised, and the halves' correlation over spots
  stepped up to the whole (Spearman-Brown, 2r / (1 + r), clipped to [0, 1]).

``--oracle`` asks whether the smoothed components hold the annotated regions at all: beside the
pipeline's mixture it fits the same tied mixture started from the annotated regions (their means,
weights and pooled covariance), and a linear discriminant trained and scored on the annotated
spots (an upper bound, not a method), and prints the log-likelihood per spot of the best of 30 k-means starts and of the
annotation-started fit.  Where the annotation-started fit scores high and has the lower
likelihood, the regions are in the components but are not what the mixture's maximum-likelihood
fit finds (docs/benchmarks.md, "Where DLPFC's regions are lost").
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import torch

from loso import DLPFC, HER2ST, dataset_of, read_section
from peers import mclust_eee
from senca_st.defaults import load_config
from senca_st.evaluation.metrics import agreement, annotated, n_regions
from senca_st.io.store import dense
from senca_st.method.clustering import cluster_spots, leading_components, refine_labels
from senca_st.method.consensus import consensus_clusters
from senca_st.method.neighbourhood import graph_k
from senca_st.method.model.graph import neighbour_index, propagate
from senca_st.method.preprocess import HVG_FLAVOR, preprocess_section
from senca_st.method.scaling import standardised

REPO = Path(__file__).resolve().parents[1]
SCALINGS = ("unit", "pareto", "centred", "unit_clip10", "pearson", "reliable")
#: the scalings that read the HVGs' raw counts
COUNT_SCALINGS = ("pearson", "reliable")
#: what one row of the tables is measured on
CELL = ["hvg", "genes", "hvg_spots", "scaling", "npcs", "pcs", "refine", "section"]


def scaled(X: np.ndarray, how: str, counts: np.ndarray | None = None) -> np.ndarray:
    """``X`` (spots x genes, log-normalised) centred and scaled per gene as ``how`` says (module docstring).

    ``pearson`` reads ``counts``, the same spots' and genes' raw counts, instead of ``X``;
    ``reliable`` reads both.
    """
    if how == "reliable":
        return standardised(X, dtype=np.float64) * np.sqrt(reliability(counts))
    if how == "pearson":
        import scanpy as sc

        a = ad.AnnData(np.asarray(counts, dtype=np.float64))
        sc.experimental.pp.normalize_pearson_residuals(a, theta=100)
        R = np.asarray(a.X, dtype=np.float64)
        return R - R.mean(axis=0)
    X = np.asarray(X, dtype=np.float64)
    if how == "unit":
        return standardised(X, dtype=np.float64)
    if how == "unit_clip10":
        return np.clip(standardised(X, dtype=np.float64), -10, 10)
    sd = X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    if how == "pareto":
        return (X - X.mean(axis=0)) / np.sqrt(sd)
    if how == "centred":
        return X - X.mean(axis=0)
    raise ValueError(f"unknown scaling {how!r}; choose from {', '.join(SCALINGS)}")


def reliability(counts: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each gene's split-half reliability over spots (module docstring, ``reliable``), in [0, 1].

    The halves are normalised by half the spot's total over these genes, as the whole is by its total.
    """
    c = np.asarray(counts, dtype=np.int64)
    half = np.random.default_rng(seed).binomial(c, 0.5)
    totals = np.maximum(c.sum(axis=1, keepdims=True), 1) / 2
    a, b = (np.log1p(h / totals * 1e4) for h in (half, c - half))
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    r = (a * b).mean(axis=0) / np.sqrt(a.var(axis=0) * b.var(axis=0) + 1e-12)
    return np.clip(2 * r / (1 + r), 0.0, 1.0)


def top_genes_on_spots(every: ad.AnnData, raw: ad.AnnData, flavor: str, n_top: int, n_spots: int, draw: int) -> ad.AnnData:
    """``every`` (the section's every gene, preprocessed) cut to the ``n_top`` HVGs that the pipeline's
    preprocessing keeps on ``n_spots`` of its spots drawn at random (``raw``: the section's counts)."""
    pick = np.random.default_rng(draw).choice(every.n_obs, min(n_spots, every.n_obs), replace=False)
    sample = preprocess_section(raw[every.obs_names[pick]], n_top_genes=n_top, hvg_flavor=flavor)
    return every[:, sample.var_names].copy()


def partly_normalised(every: ad.AnnData, flavor: str, n_top: int, exponent: float) -> ad.AnnData:
    """The top ``n_top`` HVGs of ``every`` (a section's every gene, preprocessed) on counts divided by
    the spot's size factor to the power ``exponent`` (module docstring, ``--size-exponents``).

    The result is scaled so that ``exponent`` 1 is the pipeline's log1p of counts per 10,000.
    """
    import scanpy as sc

    if flavor == "seurat_v3":
        raise ValueError("seurat_v3 ranks the raw counts: a size exponent does not change its genes")
    counts = dense(every.layers["counts"]).astype(np.float64)
    totals = counts.sum(axis=1)
    median = float(np.median(totals))
    factor = (totals / median) ** exponent
    out = ad.AnnData(
        np.log1p(counts / factor[:, None] * (1e4 / median)).astype(np.float32),
        obs=every.obs.copy(),
        var=every.var[[]].copy(),
        obsm={"spatial": every.obsm["spatial"]},
        layers={"counts": every.layers["counts"]},
    )
    sc.pp.highly_variable_genes(out, n_top_genes=min(n_top, out.n_vars), flavor=flavor)
    return out[:, out.var["highly_variable"].to_numpy()].copy()


def smoothed_components(X, coords, how: str, npcs: int, k: int, hops: int, alpha: float, counts=None) -> np.ndarray:
    """The top ``npcs`` components of ``scaled(X, how)``, smoothed over the k-nearest-spot graph."""
    P = leading_components(scaled(X, how, counts), npcs).astype(np.float32)
    return propagate(torch.from_numpy(P), neighbour_index(coords, k), hops, alpha).numpy()


def clusters(E: np.ndarray, k: int, pcs: int, seed: int, mclust: bool) -> np.ndarray:
    if not mclust:
        return cluster_spots(E, k, method="gmm", n_components=pcs, seed=seed)
    return mclust_eee(leading_components(E, pcs), k)


def oracle(E: np.ndarray, labels: pd.Series, pcs: int) -> dict[str, float]:
    """The annotation-started mixture and a linear discriminant on the pipeline's mixture input (module docstring)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.mixture import GaussianMixture

    from senca_st.method.clustering import GMM_RIDGE, _mixture_input

    P = _mixture_input(E, pcs, 0)
    known = annotated(labels)
    codes = pd.Categorical(labels[known].astype(str)).codes
    k = int(codes.max()) + 1
    # every parameter from the annotation (means, weights, the pooled within-region covariance), so
    # that no k-means start enters the annotation-started fit
    members = [P[known][codes == c] for c in range(k)]
    means = np.stack([m.mean(axis=0) for m in members])
    within = sum((m - m.mean(axis=0)).T @ (m - m.mean(axis=0)) for m in members) / int(known.sum())
    started = GaussianMixture(
        k,
        covariance_type="tied",
        reg_covar=GMM_RIDGE,
        weights_init=np.array([len(m) for m in members]) / int(known.sum()),
        means_init=means,
        precisions_init=np.linalg.inv(within + GMM_RIDGE * np.eye(P.shape[1])),
    ).fit(P)
    starts = [GaussianMixture(k, covariance_type="tied", reg_covar=GMM_RIDGE, random_state=r).fit(P) for r in range(30)]
    best = max(starts, key=lambda g: g.score(P))
    lda = LinearDiscriminantAnalysis().fit(P[known], codes)
    return {
        "ari_annotation_start": agreement(labels, started.predict(P))["ari"],
        "loglik_annotation_start": started.score(P),
        "ari_best_of_30": agreement(labels, best.predict(P))["ari"],
        "loglik_best_of_30": best.score(P),
        "ari_lda": agreement(labels, lda.predict(P))["ari"],
    }


def reselected(
    X: np.ndarray,
    coords: np.ndarray,
    regions: np.ndarray,
    n_tops: list[int],
    how: str,
    npcs: int,
    k: int,
    hops: int,
    alpha: float,
    pcs: int,
    seed: int,
    mclust: bool,
):
    """For each N of ``n_tops``: (N, the regions of the input rebuilt from the N genes of ``X``
    with the highest F statistic between ``regions``).

    ``X``: the section's every gene, log-normalised and dense, one row per spot of ``regions``
    (at ``coords``); the rebuilt input is scaled (``how``), reduced, smoothed and clustered as the
    first one was (the pipeline's mixture, or mclust's EEE with ``mclust``), with the same seed.
    """
    from sklearn.feature_selection import f_classif

    if not n_tops:
        return
    F = np.nan_to_num(f_classif(X, regions)[0])
    for n in n_tops:
        E = smoothed_components(X[:, np.argsort(-F)[:n]], coords, how, npcs, k, hops, alpha)
        yield n, clusters(E, int(regions.max()) + 1, pcs, seed, mclust)


def gene_consensus_rows(runs: dict, n_tops: list[int], seeds: list[int]) -> list[dict]:
    """One row per seed rotation i: the consensus of one run per gene count, count j at seed i + j.

    Each member is one run at its gene count, as the pipeline's seeds are one run each; rotating
    which seed goes with which count gives as many ensembles as seeds, scored and averaged like seeds.
    ``runs``: (flavour, hvg_spots, scaling, npcs, pcs, refine, section) -> {"labels": the annotation,
    gene count: {seed: regions}}.
    """
    if len(n_tops) < 2:
        return []
    rows = []
    for (hvg, m, how, npcs, pcs, r, s), by_genes in runs.items():
        for i, seed in enumerate(seeds):
            members = [by_genes[n][seeds[(i + j) % len(seeds)]] for j, n in enumerate(n_tops)]
            cell = dict(zip(CELL, (hvg, "+".join(map(str, n_tops)), m, how, npcs, pcs, r, s)))
            ari = agreement(by_genes["labels"], consensus_clusters(members).labels)["ari"]
            rows.append({**cell, "seed": seed, "ari": ari})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--her2st", default=str(REPO.parent / "shared" / "data" / "her2st"))
    ap.add_argument("--dlpfc", default=str(REPO.parent / "shared" / "data" / "dlpfc"))
    ap.add_argument("--sections", default=",".join(HER2ST + DLPFC))
    ap.add_argument("--hvgs", default=HVG_FLAVOR, help="scanpy HVG flavours the genes are chosen by, comma-separated")
    ap.add_argument(
        "--n-top-genes", help="HVGs kept (preprocess.n_top_genes; more than a section has: all of them), comma-separated"
    )
    ap.add_argument(
        "--hvg-spots", default="0", help="rank the HVGs on this many random spots (3 draws; 0: all), comma-separated"
    )
    ap.add_argument("--scalings", default="unit,pareto,centred,unit_clip10")
    ap.add_argument("--npcs", default="20", help="input components (train.rna_pcs), comma-separated")
    ap.add_argument("--pcs", default="10", help="components the mixture is fitted on (cluster.pcs), comma-separated")
    ap.add_argument("--seeds", default="0,1,2", help="the mixture's seeds (one fit with --mclust)")
    ap.add_argument(
        "--refine", default="0", help="relabel by the commonest region of the N nearest spots, comma-separated"
    )
    ap.add_argument(
        "--size-exponents", default="1", help="divide counts by the size factor to this power (1: the pipeline's), comma-separated"
    )
    ap.add_argument("--mclust", action="store_true", help="cluster with pymclustr's EEE instead of the pipeline's mixture")
    ap.add_argument("--oracle", action="store_true", help="also the annotation-started mixture and a linear discriminant")
    ap.add_argument(
        "--reselect", default="", help="also rebuild the input from the N genes that best tell the regions apart, comma-separated"
    )
    ap.add_argument(
        "--gene-consensus",
        action="store_true",
        help="also the consensus over --n-top-genes, one mixture seed per gene count (module docstring)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = load_config(REPO / "config" / "config.yaml")
    train = base["train"]
    sections = args.sections.split(",")
    seeds = [int(s) for s in args.seeds.split(",")][: 1 if args.mclust else None]
    raw = {s: read_section(s, Path(args.her2st), Path(args.dlpfc)) for s in sections}
    hvgs = args.hvgs.split(",")
    n_tops = [int(n) for n in str(args.n_top_genes or base["preprocess"]["n_top_genes"]).split(",")]
    hvg_spots = [int(n) for n in args.hvg_spots.split(",")]
    refines = [int(n) for n in args.refine.split(",")]
    # (flavour, genes, hvg_spots, section) -> the inputs scored: one, or one per draw of the spots
    data = {}
    reselect = [int(n) for n in args.reselect.split(",")] if args.reselect else []
    exponents = [float(b) for b in args.size_exponents.split(",")]
    partial = [b for b in exponents if b != 1]
    # every gene, log-normalised, for the genes ranked on a sample of spots, by the regions found or
    # on a partly normalised scale
    every = {
        s: preprocess_section(raw[s], n_top_genes=raw[s].n_vars) for s in sections if any(hvg_spots) or reselect or partial
    }
    # dense once per section, for the F statistics of every seed's regions (preprocessing drops the
    # same spots whatever the genes, so these rows are every input's spots in its order)
    every_x = {s: dense(every[s].X) for s in every} if reselect else {}
    for h, n, s in itertools.product(hvgs, n_tops, sections):
        # the pipeline's normalisation (size exponent 1), with the genes ranked on all spots or on samples
        if 1 in exponents:
            if 0 in hvg_spots:
                data[h, n, 0, s] = [preprocess_section(raw[s], n_top_genes=n, hvg_flavor=h)]
            for m in filter(None, hvg_spots):
                data[h, n, m, s] = [top_genes_on_spots(every[s], raw[s], h, n, m, draw) for draw in range(3)]
        for b in partial:
            data[f"{h}, size^{b:g}", n, 0, s] = [partly_normalised(every[s], h, n, b)]
    hops, alpha = int(train["hops"]), float(train["alpha"])
    # each input beside its graph's k and its HVGs' raw counts, dense, for the scalings that read them
    wants_counts = bool(set(args.scalings.split(",")) & set(COUNT_SCALINGS))
    data = {
        key: [
            (a, graph_k(train["k"], a.obsm["spatial"]), dense(a.layers["counts"]) if wants_counts else None)
            for a in inputs
        ]
        for key, inputs in data.items()
    }
    rows, oracles = [], []
    # (cell without the gene count, refine) -> gene count -> seed -> regions, for --gene-consensus
    runs: dict = {}
    for how, npcs, pcs in itertools.product(args.scalings.split(","), map(int, args.npcs.split(",")), map(int, args.pcs.split(","))):
        for (hvg, n, m, s), inputs in data.items():
            for a, k, c in inputs:
                E = smoothed_components(a.X, a.obsm["spatial"], how, npcs, k, hops, alpha, c)
                labels = a.obs["label"]
                cell = dict(zip(CELL, (hvg, n, m, how, npcs, pcs, 0, s)))
                if args.oracle:
                    oracles.append({**cell, **oracle(E, labels, pcs)})
                for seed in seeds:
                    regions = clusters(E, n_regions(labels), pcs, seed, args.mclust)
                    # not rebuilt: the scalings that read the counts (the reselected genes' counts are not
                    # kept), and the partly normalised inputs, whose rows are the ones not named by a flavour
                    # alone (the genes are reselected on the pipeline's scale)
                    again_for = [] if how in COUNT_SCALINGS or hvg not in hvgs else reselect
                    for r, again in reselected(
                        every_x.get(s), a.obsm["spatial"], regions, again_for, how, npcs, k, hops, alpha, pcs, seed,
                        args.mclust,
                    ):
                        rows.append({**cell, "hvg": f"{hvg}, then F top {r}", "seed": seed, "ari": agreement(labels, again)["ari"]})
                    for r in refines:
                        relabelled = refine_labels(regions, a.obsm["spatial"], r)
                        rows.append({**cell, "refine": r, "seed": seed, "ari": agreement(labels, relabelled)["ari"]})
                        if args.gene_consensus and m == 0:
                            group = (hvg, m, how, npcs, pcs, r, s)
                            runs.setdefault(group, {"labels": labels}).setdefault(n, {})[seed] = relabelled
    rows += gene_consensus_rows(runs, n_tops, seeds)
    df = pd.DataFrame(rows).astype({"genes": str})
    table = df.groupby(CELL)["ari"].mean().unstack()[sections]
    for ds in ("her2st", "dlpfc"):
        members = [s for s in sections if dataset_of(s) == ds]
        if members:
            table[ds] = table[members].mean(axis=1)
    pd.set_option("display.width", 200)
    print(f"mean ARI over seeds {seeds} ({'mclust EEE' if args.mclust else 'gmm'}; k = annotated regions)")
    print(table.round(3).to_string())
    if oracles:
        print("\nthe same components, started from the annotation (log-likelihood per spot; LDA: trained on the annotation)")
        print(pd.DataFrame(oracles).set_index(CELL).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
