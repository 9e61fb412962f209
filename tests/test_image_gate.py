"""The image gate: the fusion trains where the image's regions match the expression's better than position does."""

from __future__ import annotations

import numpy as np
import pytest
from test_training import TINY

from senca_st.method.image_gate import GATE_SPOTS, image_gate
from senca_st.method.training import train_section


def lattice(n_side: int = 24) -> np.ndarray:
    return np.array([(i, j) for i in range(n_side) for j in range(n_side)], dtype=float) * 100


def expression_of(region: np.ndarray, rng: np.random.Generator, genes: int = 30) -> np.ndarray:
    programmes = rng.normal(size=(region.max() + 1, genes)) * 2
    return (programmes[region] + rng.normal(size=(len(region), genes))).astype(np.float32)


def test_the_gate_opens_where_the_image_shows_regions_that_position_cannot():
    """Interleaved regions (blocks of a checkerboard) that the H&E shows: position knows little of them."""
    rng = np.random.default_rng(0)
    xy = lattice()
    region = ((xy[:, 0] // 400 + xy[:, 1] // 400) % 3).astype(int)
    x = expression_of(region, rng)
    f = (rng.normal(size=(3, 40))[region] + 0.5 * rng.normal(size=(len(xy), 40))).astype(np.float32)
    gate = image_gate(x, f, xy)
    assert gate.open and gate.image > gate.position + 0.2
    assert "open" in gate.describe() and gate.as_dict() == {"image": gate.image, "position": gate.position, "open": True}


def test_the_gate_closes_where_the_image_shows_something_else():
    """Compact regions (bands, as cortical layers) and an image whose variation is not theirs."""
    rng = np.random.default_rng(1)
    xy = lattice()
    region = (xy[:, 0] // 600).astype(int)
    x = expression_of(region, rng)
    stain = np.sin(xy[:, 1] / 700.0)[:, None] * rng.normal(size=(1, 40))  # a gradient across the bands
    f = (stain + 0.5 * rng.normal(size=(len(xy), 40))).astype(np.float32)
    gate = image_gate(x, f, xy)
    assert not gate.open and gate.position > gate.image
    assert "closed" in gate.describe()


def test_the_gate_is_the_same_for_every_call_and_subsamples_large_sections():
    rng = np.random.default_rng(2)
    xy = lattice(8)
    region = (xy[:, 0] // 400).astype(int)
    x, f = expression_of(region, rng), rng.normal(size=(len(xy), 12)).astype(np.float32)
    assert image_gate(x, f, xy) == image_gate(x.copy(), f.copy(), xy.copy())
    assert GATE_SPOTS >= 10_000  # what k-means partitions at most; the rest of a large section is not needed


@pytest.mark.parametrize("image_gate_on", [True, False], ids=["gate", "no_gate"])
def test_a_closed_gate_trains_exactly_senca_rna(image_gate_on):
    rng = np.random.default_rng(1)
    xy = lattice(10)
    region = (xy[:, 0] // 500).astype(int)
    x = expression_of(region, rng, genes=15)
    f = rng.normal(size=(len(xy), 16)).astype(np.float32)  # the image shows nothing of the regions
    lines: list[str] = []
    fused = train_section(x, xy, f, {**TINY, "image_gate": image_gate_on}, log=lines.append)
    rna = train_section(x, xy, None, {**TINY, "use_image": False}, log=lambda m: None)
    if image_gate_on:
        assert fused.image_gate is not None and fused.image_gate["open"] is False
        assert any(line.startswith("image gate closed") for line in lines)
        assert np.array_equal(fused.embedding, rna.embedding) and "mse_image" not in fused.losses[0]
    else:
        assert fused.image_gate is None and not any("image gate" in line for line in lines)
        assert "mse_image" in fused.losses[0] and not np.allclose(fused.embedding, rna.embedding)
    assert rna.image_gate is None
