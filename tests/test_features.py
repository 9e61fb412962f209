"""Feature extraction: the encoder's normalisation and input size, batching, order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from senca_st.errors import InputError
from senca_st.method.encoders import IMAGENET_MEAN, IMAGENET_STD, Encoder, load_encoder
from senca_st.method.features import extract_features, prepare_batch


class MeanNet(torch.nn.Module):
    """Stand-in network: per-channel means tiled to 12 dims, and the input sizes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape))
        return x.mean(dim=(2, 3)).repeat(1, 4)


def mean_encoder(side: int = 24, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> Encoder:
    return Encoder("mean", MeanNet(), 12, side, mean, std, "", "")


def test_prepare_batch_uses_the_encoders_size_and_statistics():
    patches = np.full((2, 40, 40, 3), 255, dtype=np.uint8)
    x = prepare_batch(patches, mean_encoder(32), torch.device("cpu"))
    assert x.shape == (2, 3, 32, 32)
    want = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(x[0, :, 5, 5].numpy(), want, atol=1e-5)
    half = prepare_batch(patches, mean_encoder(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)), torch.device("cpu"))
    assert np.allclose(half[0, :, 5, 5].numpy(), 1.0)  # a timm model's own statistics


def test_extract_features_batches_and_keeps_order():
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (7, 24, 24, 3), dtype=np.uint8)
    enc = mean_encoder()
    out = extract_features(patches, enc, batch_size=3, device="cpu")
    assert out.shape == (7, 12) and out.dtype == np.float32
    assert [s[0] for s in enc.net.sizes] == [3, 3, 1]
    mean = (patches / 255.0).mean(axis=(1, 2))
    want = (mean - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert np.allclose(out[:, :3], want, atol=1e-4)


def test_efficientnet_lite0_features_of_real_patches():
    patches = np.random.default_rng(1).integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)
    out = extract_features(patches, load_encoder("efficientnet_lite0"), batch_size=2, device="cpu")
    assert out.shape == (3, 1280) and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])


def test_bad_patches_are_input_errors():
    with pytest.raises(InputError, match="uint8"):
        extract_features(np.zeros((2, 8, 8, 3), dtype=np.float32), mean_encoder())
    with pytest.raises(InputError, match="RGB"):
        extract_features(np.zeros((2, 8, 8), dtype=np.uint8), mean_encoder())
