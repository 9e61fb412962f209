"""The RNA branch's infomax term: real neighbourhoods against a corrupted graph."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.method.model.graph import neighbour_index
from senca_st.method.model.infomax import Infomax, infomax_loss, neighbourhood_summary
from senca_st.method.model.senca import SencaModel
from senca_st.method.training import train_section


def _grid(n: int = 8) -> np.ndarray:
    return np.array([(i, j) for i in range(n) for j in range(n)], dtype=float)


def test_summary_is_the_sigmoid_of_the_normalised_neighbourhood_mean():
    h = torch.randn(64, 6)
    index = neighbour_index(_grid(), 4)
    expected = torch.sigmoid(F.normalize(h[index].mean(1), dim=1))
    assert torch.allclose(neighbourhood_summary(h, index), expected, atol=1e-6)


def test_discriminator_is_bilinear_in_spot_and_summary():
    torch.manual_seed(0)
    d = Infomax(6)
    h, fake = torch.randn(64, 6), torch.randn(64, 6)
    index = neighbour_index(_grid(), 4)
    real_logits, fake_logits = d(h, fake, index)
    s = neighbourhood_summary(h, index)
    reference = F.bilinear(h, s, d.weight.weight.unsqueeze(0))
    # (h * (W s + b)).sum(1) == h^T W s + h . b
    assert torch.allclose(real_logits, reference.squeeze(1) + h @ d.weight.bias, atol=1e-5)
    assert fake_logits.shape == (64,)


def test_loss_is_low_when_real_and_fake_are_told_apart():
    big = torch.full((10,), 20.0)
    assert infomax_loss(big, -big) < 1e-6
    assert abs(float(infomax_loss(torch.zeros(10), torch.zeros(10))) - 2 * np.log(2.0)) < 1e-6


def test_gradients_reach_the_rna_branch_and_discriminator():
    torch.manual_seed(1)
    x = torch.randn(64, 12)
    index = neighbour_index(_grid(), 4)
    model = SencaModel(12, hidden=16, embedding=8, heads=2, use_image=False, graph_contrast=True).rna_branch
    out = model(x, index, torch.randperm(64))
    infomax_loss(out["infomax_real"], out["infomax_fake"]).backward()
    assert model.infomax.weight.weight.grad.abs().sum() > 0
    assert model.rna.lin.weight.grad.abs().sum() > 0


def test_training_learns_to_tell_the_corrupted_graph():
    # two spatial domains with different expression: shuffling spots breaks neighbourhoods,
    # which the term learns to see (its loss falls below chance, 2 log 2)
    rng = np.random.default_rng(0)
    coords = _grid(12)
    domain = (coords[:, 0] >= 6).astype(float)
    expression = (rng.normal(size=(144, 30)) + 3 * domain[:, None] * (np.arange(30) < 10)).astype(np.float32)
    settings = {"epochs": 4, "hidden": 32, "embedding": 8, "heads": 2, "use_image": False, "rna_pcs": 5}
    with_term = train_section(expression, coords, None, {**settings, "graph_contrast": 1.0}, log=lambda m: None)
    assert with_term.losses[-1]["infomax"] < with_term.losses[0]["infomax"]
    assert with_term.losses[-1]["infomax"] < 2 * np.log(2.0)
    without = train_section(expression, coords, None, {**settings, "graph_contrast": 0}, log=lambda m: None)
    assert "infomax" not in without.losses[0]
    assert "infomax" not in without.state_dict and not any(k.startswith("infomax.") for k in without.state_dict)
