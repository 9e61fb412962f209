"""Frozen image-encoder features of each spot's H&E patch, extracted once per section.

The image encoder (:mod:`senca_st.method.encoders`) is frozen, so its features
are computed once (rule ``image_features``) and reused by every SENCA-st
variant and baseline.  Patches come in batches straight from the image
(:mod:`senca_st.method.patches`), are scaled to [0, 1], normalised with the
encoder's channel statistics (what its weights were trained on) and resized
to its input size.  Batches bound the memory; inference mode keeps no
autograd state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.defaults import default
from senca_st.device import pick_device
from senca_st.errors import InputError
from senca_st.method.encoders import Encoder

LOG = logging.getLogger("senca_st")


def prepare_batch(patches: np.ndarray, encoder: Encoder, device: torch.device) -> torch.Tensor:
    """uint8 (b, P, P, 3) -> float (b, 3, side, side) at the encoder's input size, normalised as it expects."""
    x = torch.from_numpy(np.array(patches, dtype=np.uint8)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    side = encoder.input_px
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(encoder.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(encoder.std, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def extract_features(
    patches: np.ndarray | Iterable[np.ndarray],
    encoder: Encoder,
    batch_size: int = default("features.batch_size"),
    device: str = default("train.device"),
) -> np.ndarray:
    """uint8 RGB patches, (n, P, P, 3) or batches of them -> (n, encoder.dim) float32 features.

    Batches (e.g. :func:`senca_st.method.patches.iter_patches`) are encoded as they
    come, so the patches of a section never need to exist at once.
    """
    if batch_size < 1:
        raise InputError(None, f"features.batch_size is {batch_size}", "Use a positive batch size.")
    dev = pick_device(device, LOG.info, "extracting features")
    net = encoder.net.to(dev).eval()
    out = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        # an array is one batch of batches; patches.iter_patches yields several encoder batches at a time
        for batch in [patches] if isinstance(patches, np.ndarray) else patches:
            batch = np.asarray(batch)
            if batch.ndim != 4 or batch.shape[-1] != 3:
                raise InputError(None, f"patches must be (n, P, P, 3) RGB, got shape {batch.shape}", "Check the image.")
            if batch.dtype != np.uint8:
                raise InputError(None, f"patches must be uint8, got {batch.dtype}", "Check the image.")
            for start in range(0, batch.shape[0], batch_size):
                feats = net(prepare_batch(batch[start : start + batch_size], encoder, dev))
                out.append(feats.float().cpu().numpy())
    feats = np.concatenate(out) if out else np.empty((0, encoder.dim), dtype=np.float32)
    LOG.info(
        "extracted %d x %d %s features on %s at %d px in %.1f s", len(feats), feats.shape[1], encoder.name, dev, encoder.input_px, time.perf_counter() - t0
    )
    return feats
