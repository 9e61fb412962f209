"""Choose ``senca_rna``'s settings by leave-one-section-out over HER2ST and DLPFC.

A measurement script, not a test::

    python benchmarks/loso.py --grid benchmarks/loso_grid.yaml --seeds 0,1,2 [--cache DIR]

For every candidate in the grid (preprocessing + ``train:`` settings) and every
clustering rule (``--clustering``: ``gmm`` on 10 or 20 components, ``ward``), it trains ``senca_rna`` on each labelled
section once per seed, clusters with k = the number of annotated regions and
scores ARI with the pipeline's rule (unlabelled and ``undetermined`` spots left
out).  Then, for each section in turn, it picks the candidate with the best
mean ARI over *the other* sections (each dataset weighted equally, so four
small HER2ST sections do not outvote two DLPFC ones, nor the reverse) and
reports what that choice scores on the section left out.  The printed
"held-out" figures are the honest estimate for a section the settings never
saw: mean, worst section and sd over seeds.

Sections: HER2ST A1 B1 C1 D1 (almaan/her2st layout under ``--her2st``) and
DLPFC 151673 151674 (AnnData under ``--dlpfc``, labels in ``obs['layer']``),
read with the pipeline's own readers and preprocessing.  Embeddings are cached
in ``--cache`` (one ``.npy`` per candidate, section and seed), so re-running
with more seeds or clustering rules trains only what is new.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from senca_st.defaults import load_config
from senca_st.evaluation.metrics import agreement, n_regions
from senca_st.io.sections import read_h5ad_section, read_st_section
from senca_st.method.catalogue import train_settings
from senca_st.method.clustering import cluster_spots
from senca_st.method.preprocess import preprocess_section
from senca_st.method.training import train_section

REPO = Path(__file__).resolve().parents[1]
HER2ST = ["A1", "B1", "C1", "D1"]
DLPFC = ["151673", "151674"]


def dataset_of(section: str) -> str:
    return "her2st" if section in HER2ST else "dlpfc"


def read_section(section: str, her2st: Path, dlpfc: Path):
    """A labelled section as the pipeline's contract AnnData (raw counts, positions, ``label``)."""
    if section in HER2ST:
        d = her2st / "data"
        return read_st_section(
            d / "ST-cnts" / f"{section}.tsv.gz",
            d / "ST-spotfiles" / f"{section}_selection.tsv",
            d / "ST-pat" / "lbl" / f"{section}_labeled_coordinates.tsv",
        )
    return read_h5ad_section(dlpfc / f"{section}.h5ad", label_key="layer")


def candidate_tag(candidate: dict) -> str:
    """A stable file-name-safe name for a candidate's settings."""
    return "_".join(f"{k}-{candidate[k]}" for k in sorted(candidate)).replace("/", "-")


def held_out_choice(table: pd.DataFrame, sections: list[str]) -> pd.DataFrame:
    """For each section, the candidate best on the others (datasets weighted equally) and its held-out score.

    ``table``: index = candidate, columns = sections, values = mean ARI over seeds.
    """
    rows = []
    for held in sections:
        others = [s for s in sections if s != held]
        by_dataset = [table[[s for s in others if dataset_of(s) == ds]].mean(axis=1) for ds in ("her2st", "dlpfc")]
        by_dataset = [m for m in by_dataset if not m.isna().all()]
        fit = sum(by_dataset) / len(by_dataset)
        best = fit.idxmax()
        rows.append({"section": held, "chosen": best, "fit_on_others": fit[best], "held_out_ari": table.loc[best, held]})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", default=str(REPO / "benchmarks" / "loso_grid.yaml"))
    ap.add_argument("--her2st", default=str(REPO.parent / "shared" / "data" / "her2st"))
    ap.add_argument("--dlpfc", default=str(REPO.parent / "shared" / "data" / "dlpfc"))
    ap.add_argument("--sections", default=",".join(HER2ST + DLPFC))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--cache", default=str(REPO / "benchmarks" / "runs" / "loso"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--clustering", default="gmm:10,gmm:20,ward",
        help="clustering rules to cross with the grid: gmm:PCS (cluster.method gmm, cluster.pcs PCS) or ward",
    )
    ap.add_argument("--out", default="", help="write the per-run ARI table here (TSV)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sections = args.sections.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    grid = yaml.safe_load(Path(args.grid).read_text())["candidates"]
    base = load_config(REPO / "config" / "config.yaml")
    rules = [(r.partition(":")[0], int(r.partition(":")[2] or 20)) for r in args.clustering.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    preprocessed: dict[tuple[str, int], object] = {}
    runs = []
    for candidate in grid:
        n_top = int(candidate.get("n_top_genes", base["preprocess"]["n_top_genes"]))
        train = {k: v for k, v in candidate.items() if k != "n_top_genes"}
        settings = train_settings({**base["train"], **train}, "senca_rna")
        tag = candidate_tag(candidate)
        for s in sections:
            if (s, n_top) not in preprocessed:
                preprocessed[(s, n_top)] = preprocess_section(
                    read_section(s, Path(args.her2st), Path(args.dlpfc)), n_top_genes=n_top
                )
            a = preprocessed[(s, n_top)]
            labels = a.obs["label"].to_numpy()
            for seed in seeds:
                path = cache / f"{tag}__{s}__{seed}.npy"
                if path.exists():
                    emb, secs = np.load(path), float("nan")
                else:
                    t = time.perf_counter()
                    emb = train_section(a.X, a.obsm["spatial"], None, {**settings, "seed": seed}, log=lambda m: None).embedding
                    secs = time.perf_counter() - t
                    np.save(path, emb)
                for rule, pcs in rules:
                    k = n_regions(pd.Series(labels))
                    pred = cluster_spots(emb, k, method=rule, n_components=pcs, seed=seed)
                    m = agreement(pd.Series(labels), pred)
                    name = f"{rule}:{pcs}" if rule == "gmm" else rule
                    runs.append({"candidate": tag, "clustering": name, "section": s, "seed": seed,
                                 "ari": m["ari"], "nmi": m["nmi"], "seconds": secs})
                print(f"{tag} {s} seed {seed}: " + " ".join(
                    f"{r['clustering']} {r['ari']:.3f}" for r in runs[-len(rules):]), flush=True)
    df = pd.DataFrame(runs)
    if args.out:
        df.to_csv(args.out, sep="\t", index=False)
    df["setting"] = df["candidate"] + " | " + df["clustering"]
    table = df.groupby(["setting", "section"])["ari"].mean().unstack()[sections]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 80)
    summary = table.copy()
    summary["her2st"] = table[[s for s in sections if dataset_of(s) == "her2st"]].mean(axis=1)
    summary["dlpfc"] = table[[s for s in sections if dataset_of(s) == "dlpfc"]].mean(axis=1)
    print("\nmean ARI over seeds, per candidate | clustering rule")
    print(summary.sort_values("dlpfc").round(3).to_string())
    choice = held_out_choice(table, sections)
    print("\nleave-one-section-out: the candidate best on the other sections, scored on the one left out")
    print(choice.round(3).to_string(index=False))
    per_seed = []
    for _, row in choice.iterrows():
        sel = df[(df["setting"] == row["chosen"]) & (df["section"] == row["section"])]
        per_seed.append(sel.set_index("seed")["ari"].rename(row["section"]))
    seed_table = pd.concat(per_seed, axis=1)
    for ds, members in (("her2st", [s for s in sections if dataset_of(s) == "her2st"]),
                        ("dlpfc", [s for s in sections if dataset_of(s) == "dlpfc"])):
        if not members:
            continue
        per_seed_mean = seed_table[members].mean(axis=1)
        section_mean = seed_table[members].mean(axis=0)
        print(f"held-out {ds}: mean {per_seed_mean.mean():.3f}, worst section {section_mean.min():.3f} "
              f"({section_mean.idxmin()}), sd over seeds {per_seed_mean.std(ddof=0):.3f}")
    print(json.dumps({"chosen_most_often": choice["chosen"].value_counts().idxmax()}))


if __name__ == "__main__":
    sys.exit(main())
