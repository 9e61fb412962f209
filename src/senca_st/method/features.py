"""Frozen ResNet-50 features of each spot's H&E patch, extracted once per section.

The image encoder is frozen, so its features are computed once (rule
``image_features``) and reused by every SENCA-st variant and baseline.
Patches come in batches straight from the image (:mod:`senca_st.method.patches`),
are scaled to [0, 1], normalised with ImageNet's channel statistics (what the
published weights expect) and resized to ``input_px`` when the tiling produced
another size.  Batches bound the memory; inference mode keeps
no autograd state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from senca_st.device import pick_device
from senca_st.errors import InputError
from senca_st.method.resnet import FEATURE_DIM, INPUT_PX, load_encoder

LOG = logging.getLogger("senca_st")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def prepare_batch(patches: np.ndarray, input_px: int, device: torch.device) -> torch.Tensor:
    """uint8 (b, P, P, 3) -> float (b, 3, input_px, input_px), ImageNet-normalised."""
    x = torch.from_numpy(np.array(patches, dtype=np.uint8)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-1] != input_px or x.shape[-2] != input_px:
        x = F.interpolate(x, size=(input_px, input_px), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def extract_features(
    patches: np.ndarray | Iterable[np.ndarray],
    weights: str | None,
    batch_size: int = 32,
    device: str = "auto",
    input_px: int = INPUT_PX,
    encoder: torch.nn.Module | None = None,
) -> np.ndarray:
    """uint8 RGB patches, (n, P, P, 3) or batches of them -> (n, 2048) float32 pooled ResNet-50 features.

    Batches (e.g. :func:`senca_st.method.patches.iter_patches`) are encoded as they
    come, so the patches of a section never need to exist at once.
    ``weights``: torchvision's ResNet-50 ImageNet file, or None/'' for a random
    network (logged as a WARNING).  ``input_px``: side the patches are resized
    to (224, the published weights' training size, unless the machine is too
    slow).  ``encoder`` overrides the network (tests).
    """
    if batch_size < 1:
        raise InputError(None, f"features.batch_size is {batch_size}", "Use a positive batch size.")
    dev = pick_device(device, LOG.info, "extracting features")
    net = (encoder if encoder is not None else load_encoder(weights)).to(dev).eval()
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
                feats = net(prepare_batch(batch[start : start + batch_size], input_px, dev))
                out.append(feats.float().cpu().numpy())
    feats = np.concatenate(out) if out else np.empty((0, FEATURE_DIM), dtype=np.float32)
    LOG.info("extracted %d x %d features on %s at %d px in %.1f s", len(feats), FEATURE_DIM, dev, input_px, time.perf_counter() - t0)
    return feats


def download_weights(dest: str, url: str | None = None) -> None:
    """Fetch torchvision's ResNet-50 file to ``dest`` and check the sha256 prefix in its name.

    torchvision names its files ``<arch>-<first 8 hex of the sha256>.pth``; the
    full digest is not published, so the prefix is what can be verified.
    """
    import hashlib
    import re
    from pathlib import Path

    from senca_st.io.download import DownloadError, fetch
    from senca_st.method.resnet import TORCHVISION_FILES

    name = Path(dest).name
    url = url or TORCHVISION_FILES.get(name)
    m = re.search(r"-([0-9a-f]{8})\.pth$", name)
    if url is None or m is None:
        raise InputError(dest, "unknown ResNet-50 weights file name", f"Use one of {', '.join(TORCHVISION_FILES)}.")
    part = Path(dest).with_name(name + ".unverified")
    fetch(url, part, log=LOG, setting="features.download_weights")
    digest = hashlib.sha256()
    with open(part, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if not digest.hexdigest().startswith(m.group(1)):
        part.unlink(missing_ok=True)
        raise DownloadError(url, f"sha256 {digest.hexdigest()[:8]}... does not match the {m.group(1)} in the file name", "Download it again.")
    part.replace(dest)
    LOG.info("downloaded %s (sha256 %s...)", dest, m.group(1))
