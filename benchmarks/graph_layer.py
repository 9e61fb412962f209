"""The RNA branch's neighbourhood attention against PyG's ``TransformerConv`` on the same spot graph.

A measurement script, not a test (PyG is not a dependency; ``pip install torch_geometric`` to run it):

    python benchmarks/graph_layer.py [--spots 3639,20000,100000] [--dim 256] [--heads 4] [--k 4] [--repeats 5]

Both compute multi-head dot-product attention of each spot over itself and its k nearest spots
(PyG with self-loops added to the k-NN edges; ``root_weight=False`` so neither adds a skip), at the
model's width, with deterministic algorithms on as in training.  Printed per size: forward + backward seconds (median of ``--repeats``), the peak
resident memory of a child process that runs only that layer (torch and the graph included), and
whether two backward passes give bit-identical gradients (with the largest difference).  The two layers are given the same weights, and the largest difference of
their outputs is printed, so the table compares one computation done two ways.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def graph(n: int, k: int, seed: int = 0):
    """A jittered square lattice of ``n`` spots and its ``(n, k+1)`` neighbour index (self first)."""
    from senca_st.method.model.graph import neighbour_index

    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    xy = np.stack(np.divmod(np.arange(n), side), axis=1).astype(float) + rng.normal(0, 0.05, (n, 2))
    return neighbour_index(xy, k)


def layers(dim: int, heads: int):
    """Ours and PyG's, with PyG's query/key/value/output weights copied from ours."""
    from torch_geometric.nn import TransformerConv

    from senca_st.method.model.graph import NeighbourSelfAttention

    torch.manual_seed(0)
    ours = NeighbourSelfAttention(dim, heads)
    pyg = TransformerConv(dim, dim // heads, heads=heads, concat=True, root_weight=False)
    wq, wk, wv = ours.qkv.weight.chunk(3, 0)
    bq, bk, bv = ours.qkv.bias.chunk(3, 0)
    with torch.no_grad():
        for lin, w, b in ((pyg.lin_query, wq, bq), (pyg.lin_key, wk, bk), (pyg.lin_value, wv, bv)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    return ours, pyg


def edges(index: torch.Tensor) -> torch.Tensor:
    """PyG's ``edge_index`` (source -> target) of the same neighbourhoods, self-loops included."""
    n, m = index.shape
    target = torch.arange(n).repeat_interleave(m)
    return torch.stack([index.reshape(-1), target])


def step(which: str, layer, h: torch.Tensor, index: torch.Tensor, ei: torch.Tensor) -> tuple[torch.Tensor, list]:
    layer.zero_grad()
    x = h.clone().requires_grad_(True)
    out = layer(x, index) if which == "ours" else layer(x, ei)
    out.square().mean().backward()
    return out.detach(), [p.grad.clone() for p in layer.parameters() if p.grad is not None] + [x.grad.clone()]


def child(which: str, n: int, dim: int, heads: int, k: int, repeats: int) -> dict:
    """One layer on one size, in this process: seconds, determinism, this process's peak memory.

    Under ``torch.use_deterministic_algorithms(True, warn_only=True)``, as training runs.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    index = graph(n, k)
    ei = edges(index)
    ours, pyg = layers(dim, heads)
    layer = ours if which == "ours" else pyg
    h = torch.randn(n, dim, generator=torch.Generator().manual_seed(1))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out, grads = step(which, layer, h, index, ei)
        times.append(time.perf_counter() - t)
    _, again = step(which, layer, h, index, ei)
    same = all(torch.equal(a, b) for a, b in zip(grads, again))
    record = {
        "seconds": float(np.median(times)),
        "deterministic": same,
        "max_grad_diff": max(float((a - b).abs().max()) for a, b in zip(grads, again)),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if which == "pyg":  # ours projects its output; compare before that projection
        with torch.no_grad():
            q, kk, v = ours.qkv(h).chunk(3, dim=-1)
            from senca_st.method.model.graph import neighbour_attention

            record["max_abs_diff"] = float((neighbour_attention(q, kk, v, index, heads) - out).abs().max())
    return record


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spots", default="3639,20000,100000")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        which, n = args.child.split(":")
        print(json.dumps(child(which, int(n), args.dim, args.heads, args.k, args.repeats)))
        return 0
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; dim {args.dim}, {args.heads} heads, k {args.k}")
    print(f"{'spots':>8} {'layer':>6} {'fwd+bwd s':>10} {'peak RSS GiB':>13} {'same grads':>11} {'grad diff':>10} {'max |ours - pyg|':>17}")
    for n in map(int, args.spots.split(",")):
        for which in ("ours", "pyg"):
            cmd = [sys.executable, __file__, "--child", f"{which}:{n}", "--dim", str(args.dim), "--heads",
                   str(args.heads), "--k", str(args.k), "--repeats", str(args.repeats)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            diff = f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else ""
            print(
                f"{n:>8} {which:>6} {r['seconds']:>10.3f} {r['peak_rss_gib']:>13.2f} {str(r['deterministic']):>11} "
                f"{r['max_grad_diff']:>10.1e} {diff:>17}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
