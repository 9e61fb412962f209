"""HER2ST sections A1, B1, C1, D1 with `senca_rna` (no image): ARI per section, mean, seconds.

A measurement script, not a test:

    python benchmarks/her2st_rna.py [--root /work/shared/data/her2st] [--seeds 0] [--set key=value ...]

Reads the almaan/her2st layout directly (counts ``data/ST-cnts/{s}.tsv.gz``,
spots ``data/ST-spotfiles/{s}_selection.tsv``, labels
``data/ST-pat/lbl/{s}_labeled_coordinates.tsv``) with the package's own readers
and preprocessing (normalise_total, log1p, top-500 HVGs), trains ``senca_rna``
with the pipeline's settings (config/config.yaml ``train:`` merged by
``senca_st.methods.train_settings``), clusters with Ward agglomerative
clustering (as the ``cluster`` rule) and scores ARI on the annotated spots
('undetermined' left out).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from sklearn.metrics import adjusted_rand_score

from senca_st.clustering import cluster_spots
from senca_st.methods import train_settings
from senca_st.preprocess import preprocess_section
from senca_st.sections import UNDETERMINED, read_st_section
from senca_st.training import train_section

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["A1", "B1", "C1", "D1"]


def load(root: Path, s: str):
    d = root / "data"
    adata = read_st_section(
        d / "ST-cnts" / f"{s}.tsv.gz",
        d / "ST-spotfiles" / f"{s}_selection.tsv",
        d / "ST-pat" / "lbl" / f"{s}_labeled_coordinates.tsv",
    )
    return preprocess_section(adata, n_top_genes=500)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "her2st"))
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (same seed for every section)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a train setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["train"]
    settings = train_settings(base, "senca_rna")
    for kv in args.set:
        k, v = kv.split("=", 1)
        settings[k] = yaml.safe_load(v)
    print("settings:", {k: settings[k] for k in sorted(settings)})
    data = {}
    for s in SECTIONS:
        t = time.perf_counter()
        data[s] = load(Path(args.root), s)
        print(f"{s}: {data[s].n_obs} spots, loaded + preprocessed in {time.perf_counter() - t:.1f} s")
    means = []
    for seed in [int(x) for x in args.seeds.split(",")]:
        aris = []
        for s in SECTIONS:
            a = data[s]
            labels = a.obs["label"].to_numpy()
            keep = labels != UNDETERMINED
            n_clusters = len(set(labels[keep]))
            t = time.perf_counter()
            res = train_section(a.X, a.obsm["spatial"], None, {**settings, "seed": seed}, log=lambda m: None)
            secs = time.perf_counter() - t
            pred = cluster_spots(res.embedding, n_clusters)
            ari = adjusted_rand_score(labels[keep], pred[keep])
            aris.append(ari)
            print(f"seed {seed} {s}: ARI {ari:.3f} ({n_clusters} regions, {a.n_obs} spots) train {secs:.1f} s")
        means.append(float(np.mean(aris)))
        print(f"seed {seed} mean ARI {means[-1]:.3f}  [" + " ".join(f"{x:.3f}" for x in aris) + "]")
    if len(means) > 1:
        print(f"mean over seeds {np.mean(means):.3f} (sd {np.std(means):.3f})")


if __name__ == "__main__":
    main()
