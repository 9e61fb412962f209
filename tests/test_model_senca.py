"""The full model: shapes, switches, and gradients reaching every trainable parameter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from senca_st.method.model.graph import neighbour_index
from senca_st.method.model.hierarchy import contrastive_terms
from senca_st.method.model.senca import SencaModel


@pytest.fixture
def data():
    torch.manual_seed(0)
    coords = np.array([(i, j) for i in range(6) for j in range(6)], dtype=float)
    return torch.randn(36, 12), torch.randn(36, 20), neighbour_index(coords, 4)


@pytest.mark.parametrize(
    "use_image,cross", [(True, True), (True, False), (False, True)], ids=["full", "no_crossattn", "rna_only"]
)
def test_gradients_reach_every_parameter(data, use_image, cross):
    x, f, index = data
    torch.manual_seed(1)
    model = SencaModel(12, image_dim=20, hidden=16, embedding=8, heads=2, cross_attention=cross, use_image=use_image)
    out = model(x, f if use_image else None, index)
    assert out["embedding"].shape == (36, 8)
    assert out["recon_x"].shape == (36, 12)
    loss = 40 * F.mse_loss(out["recon_x"], x)
    if use_image:
        assert out["recon_f"].shape == (36, 20)
        loss = loss + F.mse_loss(out["recon_f"], f)
    g = torch.Generator().manual_seed(0)
    terms = contrastive_terms(out["view_a"], out["view_b"], torch.arange(36) // 4, 9, 0.5, 16, g)
    (loss + sum(terms.values())).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing, missing
    has_cross = any(n.startswith("cross.") for n, _ in model.named_parameters())
    assert has_cross == (use_image and cross)


def test_image_model_needs_features(data):
    x, _, index = data
    model = SencaModel(12, image_dim=20, hidden=16, embedding=8, heads=2)
    with pytest.raises(ValueError, match="image"):
        model(x, None, index)
