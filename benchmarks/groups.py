"""Joint regions across a patient's sections against single-section regions, and ``n_clusters: auto``.

A measurement script, not a test::

    python benchmarks/groups.py [--groups A,B,C,D,dlpfc] [--seeds 0,1] [--auto]

Groups: HER2ST patients A-D (sections 1-6 each, section 1 labelled) and DLPFC
151673 + 151674 (two adjacent sections of one brain), read, preprocessed and
combined with the pipeline's own code (:func:`senca_st.method.groups.combine_sections`),
trained as ``senca_rna`` on the whole group (each section its own spot graph)
and given regions with k = the number of annotated regions by the pipeline's
rule (:func:`senca_st.method.groups.matched_regions`), then cleaned section by
section as the ``cluster`` rule does (``cluster.refine``, ``--refine``).  Printed per group and
seed: the joint regions' ARI on each labelled section and on the labelled spots
pooled, the same for one mixture fitted on all the group's spots (``pooled``,
the other rule), how many regions occur in two sections or more, and the mixing
score, then the seeds' consensus (the regions the pipeline writes); ``rna_pca``
likewise.  The single-section figures to compare with
come from ``benchmarks/loso.py`` / ``make bench`` (same sections, seeds, ARI rule).

``--auto``: also ``n_clusters: auto`` on each labelled section alone
(:func:`senca_st.method.clustering.choose_n_clusters`): chosen k, runner-up, the ARI at
the chosen k and at the annotated k.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from senca_st.defaults import default
from senca_st.evaluation.metrics import agreement, n_regions
from senca_st.io.sections import read_h5ad_section, read_st_section
from senca_st.method.baselines import pca_embedding
from senca_st.method.catalogue import train_settings
from senca_st.method.clustering import ISOLATED, choose_n_clusters, cluster_spots, refine_labels
from senca_st.method.consensus import consensus_clusters
from senca_st.method.groups import combine_sections, matched_regions, mixing_score, regions_by_sections
from senca_st.method.preprocess import preprocess_section
from senca_st.method.training import train_section

REPO = Path(__file__).resolve().parents[1]
GROUPS = {**{p: [f"{p}{i}" for i in range(1, 7)] for p in "ABCD"}, "dlpfc": ["151673", "151674"]}


def read(section: str, her2st: Path, dlpfc: Path):
    if section.startswith("15"):
        return read_h5ad_section(dlpfc / f"{section}.h5ad", label_key="layer")
    d = her2st / "data"
    labels = d / "ST-pat" / "lbl" / f"{section}_labeled_coordinates.tsv"
    return read_st_section(
        d / "ST-cnts" / f"{section}.tsv.gz", d / "ST-spotfiles" / f"{section}_selection.tsv", labels if labels.exists() else None
    )


def embed(method: str, X: np.ndarray, coords: np.ndarray, seed: int) -> np.ndarray:
    if method == "rna_pca":
        return pca_embedding(X, 20, 0)
    settings = train_settings({}, "senca_rna")
    settings["seed"] = seed
    return train_section(X, coords, None, settings, log=lambda _: None).embedding


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--her2st", type=Path, default=REPO.parent / "shared" / "data" / "her2st")
    ap.add_argument("--dlpfc", type=Path, default=REPO.parent / "shared" / "data" / "dlpfc")
    ap.add_argument("--groups", default="A,B,C,D,dlpfc")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--n-top-genes", type=int, default=default("preprocess.n_top_genes"))
    ap.add_argument("--hvg-flavor", default=default("preprocess.hvg_flavor"), help="preprocess.hvg_flavor")
    ap.add_argument(
        "--refine",
        type=lambda v: v if v == ISOLATED else int(v),
        default=default("cluster.refine"),
        help=f"cluster.refine: {ISOLATED}, 0 (off) or N nearest spots",
    )
    ap.add_argument("--auto", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    for group in args.groups.split(","):
        sections = GROUPS[group]
        raw = {s: read(s, args.her2st, args.dlpfc) for s in sections}
        single = {s: preprocess_section(raw[s], n_top_genes=args.n_top_genes, hvg_flavor=args.hvg_flavor) for s in sections}
        joint = combine_sections(
            raw, {s: a.obs_names for s, a in single.items()}, n_top_genes=args.n_top_genes, hvg_flavor=args.hvg_flavor
        )
        section = joint.obs["section"].astype(str).to_numpy()
        coords = np.asarray(joint.obsm["spatial"], dtype=np.float64)
        labelled = [s for s in sections if "label" in raw[s].obs]
        k = n_regions(joint.obs["label"][np.isin(section, labelled)])
        pooled = np.isin(section, labelled)
        label = joint.obs["label"]

        def cleaned(cl: np.ndarray) -> np.ndarray:
            return refine_labels(cl, coords, args.refine, section)

        def scores(cl: np.ndarray) -> str:
            aris = {s: agreement(label[section == s].astype(str), cl[section == s])["ari"] for s in labelled}
            return " ".join(f"{s} {v:.3f}" for s, v in aris.items()) + f"\tpooled {agreement(label[pooled].astype(str), cl[pooled])['ari']:.3f}"

        for method in ("rna_pca", "senca_rna"):
            runs = []
            for seed in seeds if method == "senca_rna" else [0]:
                t0 = time.perf_counter()
                emb = embed(method, joint.X, coords, seed)
                cl = cleaned(matched_regions(emb, section, k, seed=seed))
                runs.append(cl)
                where = regions_by_sections(cl, section)
                print(
                    f"{group}\t{method}_joint\tseed {seed}\tk {k}\t{scores(cl)}"
                    + f"\tpooled rule: {scores(cleaned(cluster_spots(emb, k, seed=seed)))}"
                    + f"\tshared {sum(len(v) >= 2 for v in where.values())}/{len(where)}"
                    + f"\tmixing {mixing_score(emb, section):.3f}\t{time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
            if len(runs) > 1:  # the regions the pipeline writes: the seeds' consensus
                print(f"{group}\t{method}_joint\tconsensus\tk {k}\t{scores(consensus_clusters(runs).labels)}", flush=True)
        if args.auto:
            for s in labelled:
                a = single[s]
                labels = a.obs["label"].astype(str)
                xy = np.asarray(a.obsm["spatial"], dtype=np.float64)
                for seed in seeds:
                    emb = embed("senca_rna", a.X, xy, seed)
                    choice = choose_n_clusters(emb, seed=seed)
                    ari_auto, ari_true = (
                        agreement(labels, refine_labels(cluster_spots(emb, n, seed=seed), xy, args.refine))["ari"]
                        for n in (choice.n_clusters, n_regions(labels))
                    )
                    print(
                        f"{s}\tauto\tseed {seed}\tannotated {n_regions(labels)}\tchosen {choice.n_clusters}"
                        f"\trunner-up {choice.runner_up}\tARI {ari_auto:.3f}\tARI at annotated k {ari_true:.3f}",
                        flush=True,
                    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
