"""Cut one H&E patch per spot, reaching ``tiling.neighbour_degree`` lattice pitches around it.

The patch's half-width is a whole number of lattice pitches (1 by default: the
spot and its first ring; the paper's 3 reaches the 3rd-degree neighbours).  The
pitch is measured from the spot coordinates, so the same setting works for ST
(200 µm pitch) and Visium (100 µm between spot centres) at any image
resolution.  Patches are cut in batches as the image encoder consumes them
(:func:`iter_patches`): they are never all on disk or in memory, which at 100k
spots would be 15 GB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from senca_st.defaults import default
from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage
from senca_st.io.section_image import ImageSource
from senca_st.method.neighbourhood import spot_spacing

LOG = logging.getLogger("senca_st")


def patch_side(coords: np.ndarray, degree: int = default("tiling.neighbour_degree")) -> int:
    """Side in image pixels of a square patch whose half-width reaches ``degree`` lattice pitches."""
    return max(8, int(round(2 * degree * spot_spacing(coords))))


def check_inside(image: SectionImage, coords: np.ndarray) -> None:
    """Refuse spots whose centre lies outside the image: wrong image or wrong scale factor."""
    x, y = coords[:, 0], coords[:, 1]
    outside = (x < 0) | (y < 0) | (x >= image.width) | (y >= image.height)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(
            image.path,
            f"{int(outside.sum())} of {len(coords)} spot centres lie outside the {image.width}x{image.height} image "
            f"(e.g. spot {i} at {x[i]:.0f},{y[i]:.0f})",
            "Check that the image belongs to the section; for an image smaller than the spot coordinates' frame, "
            "give its factor in the sample sheet's image_scale column.",
        )


def iter_patches(
    image_path: str | Path | ImageSource,
    coords: np.ndarray,
    patch_px: int = default("tiling.patch_px"),
    degree: int = default("tiling.neighbour_degree"),
    image_scale: float = 1.0,
    batch_size: int = 256,
) -> Iterator[np.ndarray]:
    """Yield ``(b, patch_px, patch_px, 3)`` uint8 patches, ``batch_size`` spots at a time, in spot order.

    ``coords`` are full-resolution pixel positions; ``image_scale`` maps them
    onto ``image_path`` (1 for a full-resolution image, ``tissue_hires_scalef``
    for a Visium hires PNG).  The image is opened (and checked) on the first
    batch; only one batch of patches exists at a time.
    """
    coords = np.asarray(coords, dtype=np.float64) * image_scale
    side = patch_side(coords, degree)
    half = side // 2
    with SectionImage(image_path) as image:
        check_inside(image, coords)
        LOG.info("%s: %dx%d px; %d patches of %d px resized to %d px", image.path, image.width, image.height, len(coords), side, patch_px)
        for start in range(0, len(coords), batch_size):
            chunk = coords[start : start + batch_size]
            out = np.empty((len(chunk), patch_px, patch_px, 3), dtype=np.uint8)
            for i, (x, y) in enumerate(chunk):
                x0, y0 = int(round(x)) - half, int(round(y)) - half
                window = image.read(x0, y0, x0 + side, y0 + side)
                out[i] = np.asarray(Image.fromarray(window).resize((patch_px, patch_px), Image.BILINEAR, reducing_gap=2.0))
            yield out
