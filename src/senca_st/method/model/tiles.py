"""Spatial mini-batches: a large section cut into tiles, each with a halo of neighbours.

A full-graph step holds every spot's activations, so its memory grows with the
section (README: about 7 GiB at 100k spots RNA only, 11.5 GiB with the image).
Above ``train.batch_spots`` spots a step runs on one tile instead: the spots of
one cell of a square grid over the tissue (the *core*) plus every spot the
core's embedding depends on (the *halo*), i.e. all spots within the model's
receptive field in graph hops.  Loss terms are taken on the core only, so a
spot near the tile's edge is trained with its whole neighbourhood; embedding
tile by tile gives the core spots exactly the full graph's embedding (the halo
spots' own outer neighbours are cut off, but they are further from the core
than the model can see; ``tests/test_model_tiles.py`` checks it).

Memory per step is then set by ``batch_spots`` plus the halo, whatever the
section's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from senca_st.method.model.graph import index_with_self
from senca_st.method.model.hierarchy import assign_windows

#: Spots per tile's core on the CPU when ``train.batch_spots`` is ``auto``; sections up to this size
#: train on the full graph.  Past it a seed costs one tile's steps however large the section, so
#: this sets a large section's training time: at 15k (a tile + halo of about 17.5k spots) a 100k
#: section's three seeds take about 14 min on 2 cores (docs/benchmarks.md "Scale").
CPU_BATCH_SPOTS = 15_000

#: Memory one spot of a tile takes in a training step, image + RNA at the defaults (hidden 256,
#: 10 hops, the infomax term's corrupted pass), inputs included: full-graph peak RSS grew 1789 MiB
#: from 10k to 20k spots on the CPU (benchmarks/bench_memory.py --image --batch-spots 0 --sizes
#: 10000,20000; docs/benchmarks.md).  A GPU's tile is sized from its free memory with this figure.
BYTES_PER_SPOT = 188_000


@dataclass(frozen=True)
class Tile:
    """One mini-batch: ``nodes`` (core first, then halo; global spot indices) and its local graph."""

    nodes: np.ndarray  # (m,) int64, the first n_core are the core
    n_core: int
    index: torch.Tensor  # (m, k+1) local neighbourhood (self first); a neighbour outside the tile is the spot itself
    windows: np.ndarray | None  # (n_core,) window ids of the core, 0..w-1


def receptive_hops(layers: int, hops: int, cross_attention: bool) -> int:
    """Graph hops a spot's embedding reaches: per layer its message passing plus its attention, plus cross-attention."""
    return layers * (hops + 1) + (1 if cross_attention else 0)


def batch_spots_for(setting: int | str, device: torch.device, free_bytes: int | None = None) -> int:
    """Core spots per tile: the setting when it is a number, else chosen for the device (``auto``).

    On the CPU ``auto`` is :data:`CPU_BATCH_SPOTS`; on a GPU, as many spots as half
    its free memory holds at :data:`BYTES_PER_SPOT` each (the other half for the
    halo, the inputs and the allocator's slack).  0 means the full graph always.
    """
    if setting != "auto":
        return int(setting)
    if device.type != "cuda":
        return CPU_BATCH_SPOTS
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    return max(CPU_BATCH_SPOTS, int(free_bytes // 2 // BYTES_PER_SPOT))


def _halo(core: np.ndarray, neighbours: np.ndarray, depth: int) -> np.ndarray:
    """Spots within ``depth`` hops of ``core`` along the neighbour lists, core first."""
    inside = np.zeros(neighbours.shape[0], dtype=bool)
    inside[core] = True
    frontier = core
    for _ in range(depth):
        reached = np.unique(neighbours[frontier].reshape(-1))
        frontier = reached[~inside[reached]]
        if len(frontier) == 0:
            break
        inside[frontier] = True
    halo = np.flatnonzero(inside)
    return np.concatenate([core, np.setdiff1d(halo, core, assume_unique=True)])


def spatial_tiles(
    coords: np.ndarray, neighbours: np.ndarray, batch_spots: int, depth: int, window: float | None
) -> list[Tile]:
    """Cut a section into tiles of about ``batch_spots`` core spots, each with a ``depth``-hop halo.

    ``neighbours`` is each spot's k nearest spots (``senca_st.method.neighbourhood.nearest_spots``);
    ``window`` the hierarchy's spots per window (None without the hierarchy):
    the core's windows are those of the whole section, renumbered per tile.
    """
    cells = assign_windows(coords, float(batch_spots))
    windows = assign_windows(coords, window) if window else None
    tiles = []
    for cell in range(int(cells.max()) + 1):
        core = np.flatnonzero(cells == cell)  # never empty: assign_windows numbers occupied cells only
        nodes = _halo(core, neighbours, depth)
        local = np.full(neighbours.shape[0], -1, dtype=np.int64)
        local[nodes] = np.arange(len(nodes))
        nbrs = local[neighbours[nodes]]
        nbrs = np.where(nbrs < 0, np.arange(len(nodes), dtype=np.int64)[:, None], nbrs)
        core_windows = None
        if windows is not None:
            _, core_windows = np.unique(windows[core], return_inverse=True)
            core_windows = core_windows.reshape(-1).astype(np.int64)
        tiles.append(Tile(nodes, len(core), index_with_self(nbrs), core_windows))
    return tiles
