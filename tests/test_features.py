"""Feature extraction: ImageNet normalisation, resizing, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from senca_st.errors import InputError
from senca_st.method.features import IMAGENET_MEAN, IMAGENET_STD, extract_features, prepare_batch


class MeanEncoder(torch.nn.Module):
    """Stand-in encoder: per-channel means tiled to 2048 dims, and the input size it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape))
        return x.mean(dim=(2, 3)).repeat(1, 683)[:, :2048]


def test_prepare_batch_normalises_and_resizes():
    patches = np.full((2, 40, 40, 3), 255, dtype=np.uint8)
    x = prepare_batch(patches, 32, torch.device("cpu"))
    assert x.shape == (2, 3, 32, 32)
    want = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(x[0, :, 5, 5].numpy(), want, atol=1e-5)


def test_extract_features_batches_and_keeps_order():
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (7, 24, 24, 3), dtype=np.uint8)
    enc = MeanEncoder()
    out = extract_features(patches, None, batch_size=3, device="cpu", input_px=24, encoder=enc)
    assert out.shape == (7, 2048) and out.dtype == np.float32
    assert [s[0] for s in enc.sizes] == [3, 3, 1]
    mean = (patches / 255.0).mean(axis=(1, 2))
    want = (mean - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(out[:, :3], want, atol=1e-4)


def test_real_resnet_random_weights_small_input():
    patches = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    out = extract_features(patches, None, batch_size=2, device="cpu", input_px=64)
    assert out.shape == (3, 2048) and np.isfinite(out).all() and (out >= 0).all()  # pooled ReLU output


def test_bad_patches_are_input_errors():
    with pytest.raises(InputError, match="uint8"):
        extract_features(np.zeros((2, 8, 8, 3), dtype=np.float32), None, encoder=MeanEncoder())
    with pytest.raises(InputError, match="RGB"):
        extract_features(np.zeros((2, 8, 8), dtype=np.uint8), None, encoder=MeanEncoder())
