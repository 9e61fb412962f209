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


def _unreached(module):
    return [n for n, p in module.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]


@pytest.mark.parametrize("use_image,cross", [(True, True), (True, False), (False, True)], ids=["full", "no_crossattn", "rna_only"])
def test_each_stages_loss_reaches_every_parameter_of_its_module(data, use_image, cross):
    x, f, index = data
    torch.manual_seed(1)
    model = SencaModel(12, image_dim=20, hidden=16, embedding=8, heads=2, cross_attention=cross, use_image=use_image)
    g = torch.Generator().manual_seed(0)
    out = model.rna_branch(x, index)
    assert out["embedding"].shape == (36, 8) and out["recon_x"].shape == (36, 12)
    terms = contrastive_terms(out["view_a"], out["view_b"], torch.arange(36) // 4, 9, 0.5, 16, g)
    (40 * F.mse_loss(out["recon_x"], x) + sum(terms.values())).backward()
    assert not _unreached(model.rna_branch)
    assert (model.fusion is not None) == use_image
    if not use_image:
        return
    model.zero_grad(set_to_none=True)
    rna = model.rna_branch(x, index)
    out = model.fusion(rna["features"], f, index)
    assert out["embedding"].shape == (36, 8) and out["recon_x"].shape == (36, 12) and out["recon_f"].shape == (36, 20)
    terms = contrastive_terms(rna["view_a"].detach(), out["view_b"], torch.arange(36) // 4, 9, 0.5, 16, g)
    (40 * F.mse_loss(out["recon_x"], x) + F.mse_loss(out["recon_f"], f) + sum(terms.values())).backward()
    assert not _unreached(model.fusion)
    assert (model.fusion.cross is not None) == cross


def test_the_fusion_sends_no_gradient_into_the_rna_branch(data):
    """Even on RNA features that carry the graph (no no_grad around them), the fusion's loss stops at its input."""
    x, f, index = data
    model = SencaModel(12, image_dim=20, hidden=16, embedding=8, heads=2)
    rna = model.rna_branch.features(x, index)
    assert rna.requires_grad
    out = model.fusion(rna, f, index)
    (F.mse_loss(out["recon_x"], x) + F.mse_loss(out["recon_f"], f) + out["view_b"].pow(2).mean()).backward()
    assert all(p.grad is None for p in model.rna_branch.parameters())
    assert not _unreached(model.fusion)


def test_image_model_needs_features(data):
    x, _, index = data
    model = SencaModel(12, image_dim=20, hidden=16, embedding=8, heads=2).eval()
    with pytest.raises(ValueError, match="image"):
        model.embed(x, None, index)
