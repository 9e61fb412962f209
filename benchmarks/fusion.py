"""Does the image earn its place?  SENCA-st with and without the H&E on real annotated sections.

A measurement script, not a test::

    python benchmarks/fusion.py --sections A1,151673,151674 --seeds 0,1,2,3,4 [--encoder efficientnet_lite0]

Sections with their real H&E, read as the pipeline reads them:

- HER2ST A1: counts, spots and labels from ``--her2st`` (almaan/her2st layout)
  and the upstream viewer PNG ``app/www/imgs/A1_HE_image_dark.png`` at
  ``image_scale`` 0.2876 (its README: 2000 px across a 6954 px frame);
- DLPFC 151673 / 151674: the ``.h5ad`` under ``--dlpfc``, its lowres H&E from
  ``uns['spatial']`` at ``tissue_lowres_scalef``;
- ``demo``: the embedded demo section (``make demo``'s), generated under ``--cache``
  with its own image at the spot coordinates' resolution.

Image features come from the pipeline's encoder (``--encoder``, default
efficientnet_lite0) on the pipeline's patches, cached under ``--cache``.  Each
SENCA-st variant trains with the config's ``train:`` block once per seed; the
baselines run once.  Clustering and ARI are the pipeline's (gmm on
``cluster.pcs`` components, then ``cluster.refine``, k = annotated regions, unlabelled and
``undetermined`` spots left out).  Prints per section mean, sd and worst over
seeds and writes ``--out`` (one row per section, method, seed).
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

from loso import read_section
from senca_st.defaults import load_config
from senca_st.evaluation.metrics import agreement, n_regions
from senca_st.io.section_image import ImageSource, h5ad_image_source
from senca_st.method.baselines import baseline_embedding
from senca_st.method.catalogue import train_settings
from senca_st.method.clustering import cluster_spots, refine_labels
from senca_st.method.encoders import load_encoder
from senca_st.method.features import extract_features
from senca_st.method.patches import iter_patches
from senca_st.method.preprocess import preprocess_section
from senca_st.method.training import train_section

REPO = Path(__file__).resolve().parents[1]
A1_SCALE = 0.2876  # ../shared/data/her2st/README.md: the viewer PNG is 2000/6954 of the full frame
METHODS = "rna_pca,image_only,concat,senca_rna,senca,senca_no_crossattn,senca_no_hierarchy"


def demo_files(cache: Path) -> dict[str, Path]:
    """The demo section's files (written once under ``cache``)."""
    from senca_st.io.demo import demo_paths, make_demo_section

    files = demo_paths(cache / "demo")
    if not all(p.exists() for p in files.values()):
        files = make_demo_section(cache / "demo")
    return files


def load_section(section: str, her2st: Path, dlpfc: Path, cache: Path):
    """A labelled section as the pipeline reads it (the demo's files generated on first use)."""
    if section == "demo":
        from senca_st.io.sections import read_st_section

        f = demo_files(cache)
        return read_st_section(f["counts"], f["spots"], f["labels"])
    return read_section(section, her2st, dlpfc)


def image_of(section: str, her2st: Path, dlpfc: Path, cache: Path) -> ImageSource:
    if section == "demo":
        return ImageSource(demo_files(cache)["image"])
    if section == "A1":
        return ImageSource(her2st / "app" / "www" / "imgs" / "A1_HE_image_dark.png", A1_SCALE)
    source = h5ad_image_source(dlpfc / f"{section}.h5ad", section)
    if source is None:
        raise SystemExit(f"{dlpfc / section}.h5ad keeps no image in uns['spatial']")
    return source


def features(section: str, adata, source: ImageSource, encoder: str, cache: Path, tiling: dict) -> np.ndarray:
    """The section's patch features, in ``adata``'s spot order (cached per encoder, patch size and reach)."""
    name = encoder.replace(":", "_").replace("/", "_")
    path = cache / f"{section}_{name}_{tiling['patch_px']}px_degree{tiling['neighbour_degree']}.npy"
    if path.exists():
        return np.load(path)
    feats = extract_features(
        iter_patches(source, np.asarray(adata.obsm["spatial"]), patch_px=tiling["patch_px"], degree=tiling["neighbour_degree"], image_scale=source.scale),
        load_encoder(encoder),
    )
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, feats)
    return feats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="A1,151673,151674")
    ap.add_argument("--methods", default=METHODS)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--encoder", default="efficientnet_lite0")
    ap.add_argument("--her2st", type=Path, default=REPO.parent / "shared" / "data" / "her2st")
    ap.add_argument("--dlpfc", type=Path, default=REPO.parent / "shared" / "data" / "dlpfc")
    ap.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    ap.add_argument("--set", default="{}", help="JSON overrides of the train: block, e.g. '{\"epochs\": 20}'")
    ap.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "cache" / "fusion")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "fusion.tsv")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for section in args.sections.split(","):
        raw = load_section(section, args.her2st, args.dlpfc, args.cache)
        source = image_of(section, args.her2st, args.dlpfc, args.cache)
        feats_all = features(section, raw, source, args.encoder, args.cache, cfg["tiling"])
        pre = preprocess_section(raw, **cfg["preprocess"])
        F = feats_all[raw.obs_names.get_indexer(pre.obs_names)]
        X = np.asarray(pre.X)
        xy = np.asarray(pre.obsm["spatial"], dtype=np.float64)
        labels = pre.obs["label"]
        k = n_regions(labels)
        for method in args.methods.split(","):
            if method in ("rna_pca", "image_only", "concat"):
                t0 = time.perf_counter()
                E = baseline_embedding(method, X, F, cfg["baselines"]["n_components"])
                runs = [(0, E, time.perf_counter() - t0)]
            else:
                runs = []
                for seed in seeds:
                    s = {**train_settings(cfg["train"], method), **json.loads(args.set), "seed": seed}
                    r = train_section(X, xy, F if s["use_image"] else None, s, log=lambda _m: None)
                    runs.append((seed, r.embedding, r.seconds))
            for seed, E, seconds in runs:
                c = cluster_spots(E, k, method=cfg["cluster"]["method"], n_components=cfg["cluster"]["pcs"], seed=seed)
                c = refine_labels(c, xy, cfg["cluster"]["refine"])
                rows.append({"section": section, "method": method, "seed": seed, "ari": agreement(labels, c)["ari"], "seconds": round(seconds, 1)})
                print("\t".join(map(str, rows[-1].values())), file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    df["encoder"] = args.encoder
    args.out.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    table = df.groupby(["section", "method"], sort=False)["ari"].agg(mean="mean", sd="std", worst="min").round(3)
    print(table.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
