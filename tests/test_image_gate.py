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


def _section_files(tmp_path, n_side: int = 10, feature_rows: int | None = None):
    """A preprocessed.h5ad and image_features.npy as the pipeline writes them; the image shows nothing."""
    import anndata as ad

    rng = np.random.default_rng(1)
    xy = lattice(n_side)
    x = expression_of((xy[:, 0] // 500).astype(int), rng, genes=15)
    adata = ad.AnnData(x)
    adata.obsm["spatial"] = xy
    adata.obs_names = [f"s{i}" for i in range(len(xy))]
    pre, feats = tmp_path / "preprocessed.h5ad", tmp_path / "image_features.npy"
    adata.write_h5ad(pre)
    np.save(feats, rng.normal(size=(feature_rows or len(xy), 16)).astype(np.float32))
    return pre, feats


def test_the_gate_step_writes_the_section_gate_and_training_reads_it(tmp_path):
    """Rule image_gate computes the gate once; every train job of the section takes the file's decision."""
    import json

    import anndata as ad

    from senca_st.method.image_gate import ImageGate, image_gate_step
    from senca_st.method.training import train_step

    pre, feats = _section_files(tmp_path)
    gate = image_gate_step(str(pre), str(feats), str(tmp_path / "image_gate.json"))
    written = json.loads((tmp_path / "image_gate.json").read_text())
    assert not gate.open and written["open"] is False and ImageGate.read(tmp_path / "image_gate.json") == gate
    a = ad.read_h5ad(pre)
    assert gate == image_gate(a.X, np.load(feats), a.obsm["spatial"])
    # a gate file that says open: the job trains the fusion although its own figures would close it
    (tmp_path / "open.json").write_text(json.dumps({"image": 0.5, "position": 0.1, "open": True}))
    kw = {"preprocessed": str(pre), "features": str(feats), "method": "senca", "settings": {**TINY, "image_gate": True}}
    opened = train_step(**kw, embedding_out=str(tmp_path / "o.h5ad"), model_out=str(tmp_path / "o.pt"), gate=str(tmp_path / "open.json"))
    assert opened.image_gate == {"image": 0.5, "position": 0.1, "open": True} and "mse_image" in opened.losses[0]
    assert ad.read_h5ad(tmp_path / "o.h5ad").uns["image_gate"]["open"]
    closed = train_step(**kw, embedding_out=str(tmp_path / "c.h5ad"), model_out=str(tmp_path / "c.pt"), gate=str(tmp_path / "image_gate.json"))
    assert closed.image_gate["open"] is False and "mse_image" not in closed.losses[0]


def test_a_bad_gate_file_or_features_of_other_spots_get_a_clear_error(tmp_path):
    from senca_st.errors import InputError
    from senca_st.method.image_gate import ImageGate, image_gate_step

    bad = tmp_path / "image_gate.json"
    bad.write_text('{"image": 0.2}')
    with pytest.raises(InputError, match=r"image_gate\.json.*not an image gate file.*position"):
        ImageGate.read(bad)
    pre, feats = _section_files(tmp_path, feature_rows=7)
    with pytest.raises(InputError, match=r"image_features\.npy.*has 7 rows but .*preprocessed\.h5ad has 100 spots"):
        image_gate_step(str(pre), str(feats), str(tmp_path / "out.json"))
    import anndata as ad

    nowhere = ad.read_h5ad(pre)
    del nowhere.obsm["spatial"]
    nowhere.write_h5ad(tmp_path / "nowhere.h5ad")
    with pytest.raises(InputError, match=r"nowhere\.h5ad.*has no obsm\['spatial'\] coordinates"):
        image_gate_step(str(tmp_path / "nowhere.h5ad"), str(feats), str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()
