"""Wall time and peak memory of every pipeline job on generated HD-sized sections.

Not a test: ``python benchmarks/scale.py [--sizes 10000,100000,500000] [--image] [--cores 2]``.

For each size the demo tumour is generated at that many spots (``demo.n_spots``,
``demo.pitch_px`` image pixels apart, the default unless ``--pitch-px``) in a
fresh copy of the workflow, and the whole pipeline runs on it with one SENCA-st
method (``senca_rna``; ``senca`` with ``--image``) at the default seeds (past
``train.large_spots`` spots, the first ``train.large_seeds`` of them) unless
``--seeds`` names others.  Snakemake's ``benchmark:`` file of each job
gives its wall time and peak RSS (``max_rss``, the job's process tree); the
script prints them per rule with the end-to-end wall time, the size of the
intermediate files under ``results/`` and the ARI of the regions found against
the generated truth, and writes ``scale.tsv`` under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from senca_st.defaults import default

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from workflow_copy import copy_workflow  # noqa: E402

OVERLAY = """\
samples: config/scale_samples.tsv
demo:
  n_spots: {n}
{pitch}tiling:
  patch_px: {patch_px}
features:
  encoder: {encoder}
train:
{seeds}  batch_spots: {batch_spots}
methods:
  with_image: [senca]
  without_image: [senca_rna]
"""


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_size(n: int, image: bool, args: argparse.Namespace) -> pd.DataFrame:
    work = Path(args.out) / f"{n}{'-image' if image else ''}-b{args.batch_spots}-s{args.seeds or 'default'}"
    if work.exists():
        shutil.rmtree(work)
    copy_workflow(work)
    (work / "config" / "scale_samples.tsv").write_text("sample\tdataset\timage\ndemo\tdemo\t" + ("" if image else "none") + "\n")
    overlay = work / "config" / "scale.yaml"
    overlay.write_text(
        OVERLAY.format(
            n=n,
            pitch=f"  pitch_px: {args.pitch_px}\n" if args.pitch_px else "",
            patch_px=args.patch_px,
            encoder=args.encoder,
            seeds=f"  seeds: [{args.seeds}]\n" if args.seeds else "",
            batch_spots=args.batch_spots,
        )
    )
    env = {**os.environ, "PYTHONPATH": str(work / "src")}
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile", str(overlay), "--quiet", "rules"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{n} spots: snakemake failed (rc {proc.returncode}); see {work}/logs\n{proc.stderr[-3000:]}")
    rows = []
    for tsv in sorted((work / "benchmarks" / "runs").rglob("*.tsv")):
        b = pd.read_csv(tsv, sep="\t").iloc[0]
        rel = tsv.relative_to(work / "benchmarks" / "runs")
        rows.append({"rule": rel.parts[0] if len(rel.parts) > 1 else tsv.stem, "job": tsv.stem,
                     "seconds": float(b["s"]), "max_rss_mib": float(b["max_rss"])})
    jobs = pd.DataFrame(rows)
    ari = pd.read_csv(work / "results" / "metrics" / "ari.tsv", sep="\t")
    spots = len(pd.read_csv(work / "results" / "demo" / "clusters.tsv", sep="\t"))
    jobs.insert(0, "spots", spots)
    jobs.insert(1, "image", image)
    summary = {
        "spots": spots,
        "image": image,
        "batch_spots": args.batch_spots,
        "seeds": int(jobs["rule"].eq("train").sum()),
        "wall_s": round(wall, 1),
        "pipeline_s_without_make_demo": round(wall - jobs.loc[jobs["rule"] == "make_demo", "seconds"].sum(), 1),
        "max_job_rss_gib": round(jobs["max_rss_mib"].max() / 1024, 2),
        "worst_job": jobs.loc[jobs["max_rss_mib"].idxmax(), "rule"],
        "results_gb": round(folder_bytes(work / "results") / 1e9, 2),
        "input_gb": round(folder_bytes(work / "resources" / "demo") / 1e9, 2),
        **{f"ari_{m}": round(a, 3) for m, a in zip(ari["method"], ari["ari"])},
    }
    print(f"\n== {spots} spots, {'image + RNA' if image else 'RNA only'} ==")
    print(jobs[["rule", "job", "seconds", "max_rss_mib"]].to_string(index=False))
    print(" ".join(f"{k}={v}" for k, v in summary.items()), flush=True)
    if not args.keep:
        shutil.rmtree(work)
    jobs.attrs["summary"] = summary
    return jobs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,500000")
    ap.add_argument("--image", action="store_true", help="with the generated H&E: senca (image + RNA); else senca_rna")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--pitch-px", type=float, default=0, help="demo.pitch_px, image pixels between neighbouring spots (0: the default)")
    ap.add_argument("--patch-px", type=int, default=default("tiling.patch_px"), help="tiling.patch_px")
    ap.add_argument("--encoder", default=default("features.encoder"), help="features.encoder")
    ap.add_argument("--batch-spots", default="auto", help="train.batch_spots (0: the full graph at any size)")
    ap.add_argument("--seeds", default="", help="train.seeds, comma-separated (empty: the defaults)")
    ap.add_argument("--out", default="results/scale")
    ap.add_argument("--keep", action="store_true", help="keep each size's workflow copy and results")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    tables, summaries = [], []
    for n in [int(s) for s in args.sizes.split(",")]:
        jobs = run_size(n, args.image, args)
        tables.append(jobs)
        summaries.append(jobs.attrs["summary"])
    out = Path(args.out) / f"scale{'-image' if args.image else ''}-b{args.batch_spots}-s{args.seeds or 'default'}.tsv"
    pd.concat(tables).to_csv(out, sep="\t", index=False)
    print("\n" + pd.DataFrame(summaries).to_string(index=False))
    print(f"per-job table: {out}")


if __name__ == "__main__":
    main()
