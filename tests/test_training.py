"""train_section: runs on CPU, repeats exactly with a seed, stops clearly on a NaN loss."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from senca_st.method import training
from senca_st.method.training import TrainingError, train_section

# the fusion trains whatever the image shows: tests/test_image_gate.py tests the gate
TINY = {"hidden": 16, "embedding": 8, "heads": 2, "epochs": 2, "steps_per_epoch": 2, "window": 4, "device": "cpu", "image_gate": False}


def section(n_side=8, genes=15, image=True, seed=0):
    rng = np.random.default_rng(seed)
    coords = np.array([(i, j) for i in range(n_side) for j in range(n_side)], dtype=float) * 100
    region = (coords[:, 0] > coords[:, 0].mean()).astype(float)
    x = rng.normal(size=(len(coords), genes)).astype(np.float32) + 2 * region[:, None]
    f = rng.normal(size=(len(coords), 32)).astype(np.float32) + region[:, None] if image else None
    return x, coords, f


@pytest.mark.parametrize(
    "overrides",
    [{}, {"cross_attention": False}, {"hierarchy": False}, {"k": 8}, {"use_image": False}],
    ids=["senca", "no_crossattn", "no_hierarchy", "k8", "rna"],
)
def test_variants_train_and_repeat_exactly(overrides):
    x, coords, f = section(image=overrides.get("use_image", True))
    lines = []
    a = train_section(x, coords, f, {**TINY, **overrides}, log=lines.append)
    b = train_section(x, coords, f, {**TINY, **overrides}, log=lambda m: None)
    assert a.embedding.shape == (64, 8) and a.embedding.dtype == np.float32
    assert np.array_equal(a.embedding, b.embedding)
    hierarchy = overrides.get("hierarchy", True)
    assert len(a.losses) == 2 and "mse" in a.losses[0]
    assert ("nt_window" in a.losses[0]) == hierarchy and ("nt_spot" in a.losses[0]) != hierarchy
    assert ("mse_image" in a.losses[0]) == overrides.get("use_image", True)
    assert any("epoch 2/2" in line and ("nt_window=" if hierarchy else "nt_spot=") in line for line in lines)
    assert a.device_used == "cpu"
    c = train_section(x, coords, f, {**TINY, **overrides, "seed": 1}, log=lambda m: None)
    assert not np.array_equal(a.embedding, c.embedding)


def test_the_fused_models_rna_branch_is_senca_rna():
    """The RNA branch trains as senca_rna trains; the fusion beside it changes none of it."""
    x, coords, f = section()
    fused = train_section(x, coords, f, TINY, log=lambda m: None)
    rna = train_section(x, coords, None, {**TINY, "use_image": False}, log=lambda m: None)
    branch = {k: v for k, v in fused.state_dict.items() if k.startswith("rna_branch.")}
    assert branch.keys() == rna.state_dict.keys()
    for k, v in rna.state_dict.items():
        assert torch.equal(branch[k], v), k
    # and the fusion's embedding is its own, not the RNA branch's
    assert fused.embedding.shape == rna.embedding.shape and not np.allclose(fused.embedding, rna.embedding)
    assert [k for k in fused.losses[0] if k not in rna.losses[0]] == [
        "mse_fused", "mse_image", "image_nt_window", "image_global"
    ]


def test_nan_loss_names_epoch_and_term(monkeypatch):
    x, coords, f = section()
    real = training.F.mse_loss
    calls = {"n": 0}

    def flaky(a, b):
        calls["n"] += 1
        out = real(a, b)
        # 3 mse terms per step (RNA, fused, image), 2 steps per epoch: call 7 is epoch 2's first
        return out * float("nan") if calls["n"] == 7 else out

    monkeypatch.setattr(training.F, "mse_loss", flaky)
    with pytest.raises(TrainingError, match=r"epoch 2: loss term 'mse' is nan"):
        train_section(x, coords, f, TINY, log=lambda m: None)


def test_cuda_request_without_cuda_falls_back_with_a_note(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    x, coords, _ = section(image=False)
    lines = []
    r = train_section(x, coords, None, {**TINY, "use_image": False, "device": "cuda", "epochs": 1}, log=lines.append)
    assert r.device_used == "cpu"
    assert any("no CUDA" in line for line in lines)


def test_out_of_memory_names_the_settings_to_lower():
    """A real allocation failure (a hidden layer of 2**36 units: terabytes) becomes one actionable message."""
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1":
        pytest.skip("the kernel grants any allocation (vm.overcommit_memory=1): it would be killed, not refused")
    x, coords, _ = section(image=False)
    with pytest.raises(TrainingError, match=r"cpu ran out of memory training 64 spots") as err:
        train_section(x, coords, None, {**TINY, "use_image": False, "hidden": 2**36, "heads": 1}, log=lambda m: None)
    assert "Lower train.max_contrast (spots per NT-Xent) or train.hidden" in str(err.value)


def test_bad_inputs_are_reported():
    x, coords, f = section()
    with pytest.raises(TrainingError, match="image features"):
        train_section(x, coords, None, TINY, log=lambda m: None)
    with pytest.raises(TrainingError, match="k=4"):
        train_section(x[:4], coords[:4], f[:4], TINY, log=lambda m: None)


def test_full_model_separates_two_synthetic_regions():
    """Image + RNA on a synthetic section: the embedding clusters into the planted regions."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    x, coords, f = section(n_side=10, genes=30, seed=3)
    r = train_section(x, coords, f, {**TINY, "hidden": 32, "embedding": 16, "epochs": 3}, log=lambda m: None)
    truth = (coords[:, 0] > coords[:, 0].mean()).astype(int)
    pred = AgglomerativeClustering(2, linkage="ward").fit_predict(r.embedding)
    assert adjusted_rand_score(truth, pred) > 0.8


def test_rna_branch_reads_principal_components_of_the_genes():
    """rna_pcs > 0: the model reads (and reconstructs) the leading PCs, ordered by variance."""
    from senca_st.method.training import rna_input

    x, _, _ = section(image=False)
    pcs = rna_input(x, 10, True, 0)
    assert pcs.shape == (x.shape[0], 10)
    var = pcs.var(axis=0)
    assert np.all(np.diff(var) <= 1e-6)
    # more PCs than the data's rank are capped, and 0 gives the z-scored genes themselves
    assert rna_input(x[:5], 50, True, 0).shape[1] == 4
    genes = rna_input(x, 0, True, 0)
    assert genes.shape == x.shape and np.allclose(genes.mean(axis=0), 0, atol=1e-5)


@pytest.mark.parametrize("use_image", [False, True], ids=["rna", "image"])
def test_a_section_above_batch_spots_trains_in_tiles(use_image):
    """Past train.batch_spots a step trains one tile and its halo: same regions, repeatable, steps smaller."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    x, coords, f = section(n_side=24, genes=30, image=use_image, seed=3)
    settings = {**TINY, "hidden": 32, "embedding": 16, "epochs": 4, "steps_per_epoch": 6, "use_image": use_image}
    lines = []
    tiled = train_section(x, coords, f, {**settings, "batch_spots": 100}, log=lines.append)
    again = train_section(x, coords, f, {**settings, "batch_spots": 100}, log=lambda m: None)
    assert np.array_equal(tiled.embedding, again.embedding) and np.isfinite(tiled.embedding).all()
    start = next(line for line in lines if line.startswith("training on"))
    found = re.search(r"; (\d+) tiles of .* \(<= (\d+) spots a step\)", start)
    n_tiles, per_step = int(found[1]), int(found[2])
    assert n_tiles >= 4 and per_step < len(x)
    truth = (coords[:, 0] > coords[:, 0].mean()).astype(int)
    pred = AgglomerativeClustering(2, linkage="ward").fit_predict(tiled.embedding)
    assert adjusted_rand_score(truth, pred) > 0.8
    whole_lines = []
    train_section(x, coords, f, {**settings, "epochs": 1, "batch_spots": 0}, log=whole_lines.append)
    assert not any("tiles" in line for line in whole_lines)  # 0: the full graph


def test_k_auto_links_each_spot_to_its_lattice_ring():
    x, coords, f = section()
    hexagonal = coords.copy()
    hexagonal[:, 0] += 50 * ((hexagonal[:, 1] // 100) % 2)  # odd rows shifted half a pitch
    hexagonal[:, 1] *= np.sqrt(3) / 2
    for where, expected in ((coords, 4), (hexagonal, 6)):
        lines = []
        r = train_section(x, where, f, {**TINY, "k": "auto", "epochs": 1}, log=lines.append)
        assert r.settings["k"] == expected and any(f"k = {expected}: the first ring" in line for line in lines)
