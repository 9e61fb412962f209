"""Spatial mini-batches (senca_st.method.model.tiles): a tile's core gets the full graph's embedding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from senca_st.method.model.graph import index_with_self
from senca_st.method.model.senca import SencaModel
from senca_st.method.model.tiles import CPU_BATCH_SPOTS, batch_spots_for, receptive_hops, spatial_tiles
from senca_st.method.neighbourhood import nearest_spots


def _section(n_side: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(n_side), np.arange(n_side), indexing="ij")
    coords = np.stack([2 * cols + rows % 2, rows * np.sqrt(3)], -1).reshape(-1, 2).astype(float)
    x = rng.normal(size=(len(coords), 12)).astype(np.float32)
    f = rng.normal(size=(len(coords), 16)).astype(np.float32)
    return coords, x, f


def _tiled(model, coords, x, f, batch, depth, k=4):
    neighbours = nearest_spots(coords, k)
    out = np.full((len(coords), 8), np.nan, dtype=np.float32)
    tiles = spatial_tiles(coords, neighbours, batch, depth, window=16)
    for t in tiles:
        nodes = torch.from_numpy(t.nodes)
        z = model.embed(torch.from_numpy(x)[nodes], None if f is None else torch.from_numpy(f)[nodes], t.index)
        out[t.nodes[: t.n_core]] = z[: t.n_core].numpy()
    return out, tiles


@pytest.mark.parametrize("use_image", [False, True])
def test_tiles_give_the_full_graph_embedding(use_image):
    coords, x, f = _section()
    f = f if use_image else None
    torch.manual_seed(0)
    model = SencaModel(12, image_dim=16, hidden=16, embedding=8, heads=2, hops=3, alpha=0.2, use_image=use_image).eval()
    full = model.embed(torch.from_numpy(x), None if f is None else torch.from_numpy(f), index_with_self(nearest_spots(coords, 4)))
    depth = receptive_hops(1, 3, use_image)
    tiled, tiles = _tiled(model, coords, x, f, batch=200, depth=depth)
    assert len(tiles) >= 6 and sum(t.n_core for t in tiles) == len(coords)
    assert sorted(np.concatenate([t.nodes[: t.n_core] for t in tiles]).tolist()) == list(range(len(coords)))
    assert max(len(t.nodes) for t in tiles) < len(coords)  # a halo, not the whole section
    np.testing.assert_allclose(tiled, full.numpy(), atol=1e-5)
    # a halo shallower than the receptive field changes spots near the tile edges
    short, _ = _tiled(model, coords, x, f, batch=200, depth=depth - 2)
    assert np.abs(short - full.numpy()).max() > 1e-3


def test_core_windows_are_the_sections_windows():
    coords, _, _ = _section(30)
    tiles = spatial_tiles(coords, nearest_spots(coords, 4), 150, 2, window=16)
    for t in tiles:
        assert t.windows is not None and len(t.windows) == t.n_core
        assert set(t.windows.tolist()) == set(range(int(t.windows.max()) + 1))
    assert all(t.windows is None for t in spatial_tiles(coords, nearest_spots(coords, 4), 150, 2, window=None))


def test_batch_size_follows_the_device():
    assert batch_spots_for(5000, torch.device("cpu")) == 5000
    assert batch_spots_for(0, torch.device("cpu")) == 0
    assert batch_spots_for("auto", torch.device("cpu")) == CPU_BATCH_SPOTS
    big = batch_spots_for("auto", torch.device("cuda"), free_bytes=80 * 2**30)
    small = batch_spots_for("auto", torch.device("cuda"), free_bytes=2 * 2**30)
    assert big > 20 * small / 2 and big > CPU_BATCH_SPOTS and small == CPU_BATCH_SPOTS
