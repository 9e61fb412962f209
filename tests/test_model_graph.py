"""The RNA graph transformer and the cross-attention only look at each spot's graph neighbours."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from senca_st.method.model.cross_attention import NeighbourCrossAttention
from senca_st.method.model.graph import GraphTransformerEncoder, neighbour_attention, neighbour_index


def lattice(n_side: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n_side) for j in range(n_side)], dtype=float)


@pytest.fixture
def graph():
    coords = lattice(6)  # 36 spots
    return coords, neighbour_index(coords, 4)


def test_neighbour_index_has_self_first_then_k_nearest(graph):
    coords, index = graph
    assert index.shape == (36, 5)
    assert torch.equal(index[:, 0], torch.arange(36))
    d = np.linalg.norm(coords[index[:, 1:].numpy()] - coords[:, None], axis=2)
    interior = ((coords > 0) & (coords < 5)).all(axis=1)
    assert np.allclose(d[interior], 1.0)  # an interior lattice spot's 4 nearest are at distance 1
    assert (d[~interior] >= 1.0).all()


def test_neighbour_attention_matches_masked_dense_attention(graph):
    _, index = graph
    torch.manual_seed(0)
    n, d, h = 36, 8, 2
    q, k, v = torch.randn(n, d), torch.randn(n, d), torch.randn(n, d)
    got = neighbour_attention(q, k, v, index, h)
    mask = torch.full((n, n), float("-inf"))
    mask.scatter_(1, index, 0.0)
    qh, kh, vh = (t.view(n, h, d // h).transpose(0, 1) for t in (q, k, v))
    att = torch.softmax(qh @ kh.transpose(1, 2) / (d // h) ** 0.5 + mask, dim=-1)
    want = (att @ vh).transpose(0, 1).reshape(n, d)
    assert torch.allclose(got, want, atol=1e-5)


def _receptive_field(index: torch.Tensor, spot: int, hops: int) -> set[int]:
    seen = {spot}
    frontier = {spot}
    for _ in range(hops):
        frontier = {int(j) for i in frontier for j in index[i]}
        seen |= frontier
    return seen


def test_graph_encoder_spot_ignores_non_neighbours(graph):
    _, index = graph
    torch.manual_seed(0)
    enc = GraphTransformerEncoder(n_genes=10, hidden=16, dropout=0.2, heads=2, layers=1, hops=1).eval()
    x = torch.randn(36, 10)
    spot = 14
    # one message-passing hop, then attention over neighbours: 2 hops can reach spot 14
    near = _receptive_field(index, spot, 2)
    far = [j for j in range(36) if j not in near]
    assert far
    x2 = x.clone()
    x2[far] += 100 * torch.randn(len(far), 10)
    assert torch.allclose(enc(x, index)[spot], enc(x2, index)[spot], atol=1e-5)
    # ... while a direct neighbour does change it
    x3 = x.clone()
    x3[int(index[spot, 1])] += 10
    assert not torch.allclose(enc(x, index)[spot], enc(x3, index)[spot], atol=1e-4)


def test_cross_attention_spot_ignores_non_neighbours(graph):
    _, index = graph
    torch.manual_seed(0)
    cross = NeighbourCrossAttention(16, 2).eval()
    rna, img = torch.randn(36, 16), torch.randn(36, 16)
    spot = 20
    # the agreement weight reads the neighbours' agreement: still within index[spot]
    near = {int(j) for j in index[spot]}
    far = [j for j in range(36) if j not in near]
    rna2, img2 = rna.clone(), img.clone()
    rna2[far] += 50 * torch.randn(len(far), 16)
    img2[far] += 50 * torch.randn(len(far), 16)
    a_r, a_i = cross(rna, img, index)
    b_r, b_i = cross(rna2, img2, index)
    assert torch.allclose(a_r[spot], b_r[spot], atol=1e-5)
    assert torch.allclose(a_i[spot], b_i[spot], atol=1e-5)
    img3 = img.clone()
    img3[int(index[spot, 2])] += 10  # a neighbour's image moves the spot's RNA output
    assert not torch.allclose(a_r[spot], cross(rna, img3, index)[0][spot], atol=1e-4)
