"""Subset-fitted clustering against the whole fit, where the whole fit still runs.

Not a test: ``python benchmarks/cluster_scale.py [--sizes 20000,100000] [--seeds 0,1,2]``.

Past ``WARD_SPOTS`` (Ward) or ``FIT_SPOTS`` (the mixture) spots,
``senca_st.method.clustering`` fits on a random subset and assigns the rest.  This
script generates the demo tumour at each size, embeds it as the ``rna_pca``
baseline does (20 principal components of the preprocessed HVGs), and for
each rule prints the ARI against the generated regions of the whole fit and of
the subset fit, their agreement (ARI between the two) and each one's time and
peak memory (each fit in a fresh subprocess, so ``ru_maxrss`` is its own).
Sizes where the whole fit would not fit here (Ward past ~25k spots) are
reported for the subset alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WHOLE_WARD_LIMIT = 25_000  # 113 s and 3.3 GiB at 20k; O(n^2) beyond


def embed(n: int, folder: Path) -> None:
    from senca_st.io.demo import make_demo_section
    from senca_st.io.sections import read_st_section
    from senca_st.io.store import dense
    from senca_st.method.baselines import pca_embedding
    from senca_st.method.preprocess import preprocess_section

    paths = make_demo_section(folder, n_spots=n, pitch=12.0)
    adata = preprocess_section(read_st_section(paths["counts"], paths["spots"], paths["labels"]), n_top_genes=3000)
    np.save(folder / "emb.npy", pca_embedding(dense(adata.X), 20, 0))
    np.save(folder / "truth.npy", adata.obs["label"].astype("category").cat.codes.to_numpy())


def fit(folder: Path, rule: str, whole: bool, seed: int) -> dict:
    from senca_st.method import clustering

    emb = np.load(folder / "emb.npy")
    limit = len(emb) if whole else None
    t = time.perf_counter()
    if rule == "gmm":
        labels = clustering.gmm_clusters(emb, 5, 10, seed, fit_spots=limit or clustering.FIT_SPOTS)
    else:
        labels = clustering.ward_clusters(emb, 5, seed, fit_spots=limit or clustering.WARD_SPOTS)
    seconds = time.perf_counter() - t
    np.save(folder / f"{rule}-{'whole' if whole else 'subset'}-{seed}.npy", labels)
    return {"seconds": round(seconds, 1), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        folder, rule, whole, seed = args.one
        print(json.dumps(fit(Path(folder), rule, whole == "whole", int(seed))))
        return
    from sklearn.metrics import adjusted_rand_score

    print("spots rule seed ari_whole ari_subset agreement s_whole s_subset mib_whole mib_subset")
    for n in [int(s) for s in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            embed(n, folder)
            truth = np.load(folder / "truth.npy")
            for rule in ("gmm", "ward"):
                for seed in [int(s) for s in args.seeds.split(",")]:
                    runs = {}
                    for kind in ("whole", "subset"):
                        if kind == "whole" and rule == "ward" and n > WHOLE_WARD_LIMIT:
                            continue
                        out = subprocess.run(
                            [sys.executable, __file__, "--one", str(folder), rule, kind, str(seed)],
                            capture_output=True, text=True, check=True,
                        )
                        runs[kind] = json.loads(out.stdout.strip().splitlines()[-1])
                        runs[kind]["labels"] = np.load(folder / f"{rule}-{kind}-{seed}.npy")
                    sub = runs["subset"]
                    who = runs.get("whole")
                    row = [
                        len(truth), rule, seed,
                        f"{adjusted_rand_score(truth, who['labels']):.3f}" if who else "-",
                        f"{adjusted_rand_score(truth, sub['labels']):.3f}",
                        f"{adjusted_rand_score(who['labels'], sub['labels']):.3f}" if who else "-",
                        who["seconds"] if who else "-", sub["seconds"],
                        who["peak_rss_mib"] if who else "-", sub["peak_rss_mib"],
                    ]
                    print(" ".join(str(v) for v in row), flush=True)


if __name__ == "__main__":
    main()
