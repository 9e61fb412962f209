"""Time and peak memory of training on generated sections of 1k, 10k and 100k spots.

Not a test: ``python benchmarks/bench_memory.py [--sizes 1000,10000,100000] [--image]``.
Each size runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own.
Sections are a square lattice with random expression (500 genes) and, with
``--image``, random 2048-d image features; 100k spots train fewer epochs.
``--batch-spots 0`` trains on the full graph at any size (the default ``auto``
trains sections past 15k spots on the CPU in spatial mini-batches).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def one(n: int, image: bool, epochs: int, steps: int, threads: int, batch_spots: str) -> dict:
    import torch

    from senca_st.method.catalogue import train_settings
    from senca_st.method.training import train_section

    torch.set_num_threads(threads)
    side = int(np.ceil(np.sqrt(n)))
    coords = (np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2)[:n] * 100.0).astype(float)
    rng = np.random.default_rng(0)
    x = np.log1p(rng.poisson(1.0, size=(n, 500))).astype(np.float32)
    f = rng.random((n, 2048), dtype=np.float32) if image else None
    batch = batch_spots if batch_spots == "auto" else int(batch_spots)
    s = train_settings(
        {"epochs": epochs, "steps_per_epoch": steps, "device": "cpu", "batch_spots": batch}, "senca" if image else "senca_rna"
    )
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    r = train_section(x, coords, f, s, log=lambda m: None)
    return {
        "spots": n,
        "image": image,
        "batch_spots": batch_spots,
        "epochs": epochs,
        "steps": epochs * steps,
        "seconds": round(time.perf_counter() - t, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_before_train_mib": round(rss0),
        "embedding": list(r.embedding.shape),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--image", action="store_true", help="the full image + RNA model (else senca_rna)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-spots", default="auto", help="train.batch_spots (0: the full graph at any size)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--epochs", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.image, args.epochs, 10, args.threads, args.batch_spots)))
        return
    for n in [int(s) for s in args.sizes.split(",")]:
        epochs = 10 if n <= 10_000 else 1
        cmd = [sys.executable, __file__, "--one", str(n), "--epochs", str(epochs), "--threads", str(args.threads),
               "--batch-spots", args.batch_spots]
        out = subprocess.run(cmd + (["--image"] if args.image else []), capture_output=True, text=True)
        if out.returncode:
            print(f"{n} spots: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{r['spots']:>7} spots {'image+RNA' if r['image'] else 'RNA only':>9} batch_spots {r['batch_spots']}: "
            f"{r['steps']:>4} steps "
            f"({r['epochs']} epochs) {r['seconds']:>7.1f} s  peak RSS {r['peak_rss_mib']:>6} MiB "
            f"(before training {r['rss_before_train_mib']} MiB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
