"""Windows, pooling and NT-Xent."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.method.model.hierarchy import assign_windows, contrastive_terms, nt_xent, sampled_nt_xent, window_pool


def direct_nt_xent(a: torch.Tensor, b: torch.Tensor, t: float) -> float:
    """NT-Xent written out term by term (SimCLR, eq. 1), averaged over all 2N anchors."""
    z = [F.normalize(r, dim=0) for r in torch.cat([a, b])]
    n = a.shape[0]
    total = 0.0
    for i in range(2 * n):
        pos = (i + n) % (2 * n)
        num = math.exp(float(z[i] @ z[pos]) / t)
        den = sum(math.exp(float(z[i] @ z[j]) / t) for j in range(2 * n) if j != i)
        total += -math.log(num / den)
    return total / (2 * n)


def test_nt_xent_matches_direct_computation():
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    for t in (0.5, 0.1):
        assert abs(float(nt_xent(a, b, t)) - direct_nt_xent(a, b, t)) < 1e-4


def test_sampled_nt_xent_bounds_the_batch():
    torch.manual_seed(0)
    a = torch.randn(50, 4)
    g = torch.Generator().manual_seed(0)
    assert torch.isfinite(sampled_nt_xent(a, a + 0.1, 0.5, 8, g))
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert float(sampled_nt_xent(a, a * 2, 0.5, 8, g1)) == float(sampled_nt_xent(a, a * 2, 0.5, 8, g2))
    # with max_items >= n it is the plain loss
    assert float(sampled_nt_xent(a, a * 2, 0.5, 100, g1)) == float(nt_xent(a, a * 2, 0.5))


def test_windows_hold_about_the_requested_number_of_spots():
    coords = np.array([(i, j) for i in range(20) for j in range(20)], dtype=float) * 137.0
    w = assign_windows(coords, 16)
    counts = np.bincount(w)
    assert w.min() == 0 and len(counts) == w.max() + 1
    assert 12 <= counts.mean() <= 20
    # windows are spatially compact
    for k in range(len(counts)):
        span = np.ptp(coords[w == k], axis=0) / 137.0
        assert (span <= 4).all()


def test_window_pool_is_the_mean():
    z = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    w = torch.tensor([0, 0, 1])
    assert torch.allclose(window_pool(z, w, 2), torch.tensor([[2.0, 1.0], [5.0, 5.0]]))


def test_hierarchy_switch():
    torch.manual_seed(0)
    a, b = torch.randn(20, 4), torch.randn(20, 4)
    g = torch.Generator().manual_seed(0)
    w = torch.arange(20) // 5
    # the paper's levels: windows and the whole section; spots only on request
    assert set(contrastive_terms(a, b, w, 4, 0.5, 64, g)) == {"nt_window", "global"}
    assert set(contrastive_terms(a, b, w, 4, 0.5, 64, g, spot_level=True)) == {"nt_spot", "nt_window", "global"}
    # no hierarchy (the ablation): spots only
    assert set(contrastive_terms(a, b, None, 0, 0.5, 64, g)) == {"nt_spot"}
    # a section too small for two windows falls back to spots rather than losing its contrast
    assert set(contrastive_terms(a, b, torch.zeros(20, dtype=torch.long), 1, 0.5, 64, g)) == {"nt_spot", "global"}
