"""Which H&E image a section is read from, and the factor from its spot coordinates to that image.

Spot coordinates are full-resolution pixels (``obsm['spatial']``), as scanpy
and squidpy keep them; the image a user holds is often smaller.  One resolver,
:func:`resolve_image`, serves every rule that reads the H&E (patches for the
image encoder, the region maps, ``section.h5ad``), so the patches and the
figures always use the same image at the same scale:

- an image named in the sheet's ``image`` column, at its ``image_scale``
  (full-resolution pixels -> image pixels; 1 when the column is empty);
- a Visium section without one: Space Ranger's hires PNG at
  ``tissue_hires_scalef``;
- an ``.h5ad`` without one: the image scanpy/squidpy keep in
  ``uns['spatial'][library_id]['images']`` (``hires`` before ``lowres``) at its
  ``tissue_<key>_scalef``;
- the demo's and HER2ST's own images, at full resolution.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from senca_st.errors import InputError

#: uns['spatial'] image keys in the order they are preferred (the sharper first).
UNS_IMAGE_KEYS = ("hires", "lowres")


@dataclass(frozen=True)
class ImageSource:
    """An image file (or an image inside an ``.h5ad``) and the factor from spot coordinates onto it."""

    path: Path
    scale: float = 1.0
    library_id: str | None = None  # set for an image inside an .h5ad's uns['spatial']
    key: str | None = None

    def describe(self) -> str:
        where = f"{self.path}:uns['spatial'][{self.library_id!r}]['images'][{self.key!r}]" if self.key else str(self.path)
        return f"{where} at {self.scale:.6g} x full-resolution pixels"


def parse_image_scale(value: str, where: str, path: str | Path) -> float:
    """The sheet's ``image_scale`` as a positive finite float (empty: 1)."""
    if value in ("", None):
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        scale = math.nan
    if not math.isfinite(scale) or scale <= 0:
        raise InputError(
            path, f"{where}: image_scale {value!r} is not a positive number", "Give the factor from full-resolution pixels to the image's pixels (e.g. 0.2876)."
        )
    return scale


def h5ad_image_source(path: str | Path, sample: str) -> ImageSource | None:
    """The H&E inside an ``.h5ad``'s ``uns['spatial']``, or None when it keeps no ``uns['spatial']``.

    Reads only the group's layout (h5py), not the pixels.  The library is the
    one named like the section, else the only one.  An ``uns['spatial']``
    without images or scale factors is an error, not a silent RNA-only run.
    """
    import h5py

    path = Path(path)
    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise InputError(path, f"cannot be read as an .h5ad (HDF5) file ({err})", "Write it with anndata's write_h5ad.") from err
    with fh:
        spatial = fh.get("uns/spatial")
        if not isinstance(spatial, h5py.Group) or not len(spatial):
            return None
        libraries = list(spatial.keys())
        if sample in libraries:
            lib = sample
        elif len(libraries) == 1:
            lib = libraries[0]
        else:
            raise InputError(
                path,
                f"uns['spatial'] holds {len(libraries)} libraries ({', '.join(libraries)}) and none is named {sample!r}",
                "Name the section like its library id in the sample sheet, or name the image in the image column.",
            )
        entry = spatial[lib]
        images = entry.get("images") if isinstance(entry, h5py.Group) else None
        keys = [k for k in UNS_IMAGE_KEYS if isinstance(images, h5py.Group) and k in images]
        if not keys:
            raise InputError(
                path,
                f"uns['spatial'][{lib!r}] has no hires or lowres image",
                "Name the H&E in the sample sheet's image column, or write 'none' there to run without an image.",
            )
        key = keys[0]
        sf = entry.get("scalefactors")
        factor = f"tissue_{key}_scalef"
        if not isinstance(sf, h5py.Group) or factor not in sf:
            raise InputError(
                path,
                f"uns['spatial'][{lib!r}] has a {key} image but no scalefactors[{factor!r}]",
                "Keep Space Ranger's scale factors in uns['spatial'] (scanpy.read_visium does), or name the image with an image_scale.",
            )
        try:
            scale = float(np.asarray(sf[factor][()]).reshape(-1)[0])
        except (TypeError, ValueError, IndexError) as err:
            raise InputError(path, f"uns['spatial'][{lib!r}]['scalefactors'][{factor!r}] is not a number ({err})", "Write the scale factor as a number.") from err
        if not math.isfinite(scale) or scale <= 0:
            raise InputError(path, f"uns['spatial'][{lib!r}]['scalefactors'][{factor!r}] is {scale}", "Write a positive scale factor.")
        return ImageSource(path, scale, lib, key)


def read_uns_image(source: ImageSource) -> np.ndarray:
    """The pixels of an image kept in an ``.h5ad``'s ``uns['spatial']``, as 8-bit RGB (floats in [0, 1] are scaled)."""
    import h5py

    with h5py.File(source.path, "r") as fh:
        arr = np.asarray(fh[f"uns/spatial/{source.library_id}/images/{source.key}"][()])
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise InputError(source.path, f"uns['spatial'][{source.library_id!r}]['images'][{source.key!r}] has shape {arr.shape}", "Store an (h, w, 3) image.")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
        if np.nanmax(arr) <= 1.0:  # scanpy.read_visium keeps the PNG as floats in [0, 1]
            arr = arr * 255.0
        arr = np.clip(np.rint(np.nan_to_num(arr)), 0, 255).astype(np.uint8)
    return arr


def visium_image(outs: str | Path, bin_um: int | str | None = None) -> ImageSource:
    """The hires PNG Space Ranger always writes, at its ``tissue_hires_scalef`` (for Visium HD, the
    binning's own ``spatial/``): a Visium section's image when the sheet names none."""
    from senca_st.io.sections import visium_folder

    outs = visium_folder(outs, bin_um)
    sf_path = outs / "spatial" / "scalefactors_json.json"
    try:
        scale = float(json.loads(sf_path.read_text())["tissue_hires_scalef"])
    except FileNotFoundError:
        raise InputError(sf_path, "file not found", "Name the full-resolution image in the sample sheet's image column.") from None
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(sf_path, f"has no usable tissue_hires_scalef ({err})", "Use Space Ranger's file unchanged.") from err
    return ImageSource(outs / "spatial" / "tissue_hires_image.png", scale)


def resolve_image(image: str | None, dataset: str, sample: str, visium_dir: str = "", user_image: str = "", image_scale: str = "") -> ImageSource | None:
    """The image the rules read for a section, and its scale (module docstring); None without one.

    ``image`` is the rule's image input (what ``section_image`` in common.smk
    chose: a file, the section's ``.h5ad``, or nothing); ``user_image`` and
    ``image_scale`` are the sheet's columns.
    """
    if not image:
        return None
    named = user_image not in ("", "none")
    if named:
        return ImageSource(Path(image), parse_image_scale(image_scale, f"section {sample}", image))
    if dataset == "visium":
        return visium_image(visium_dir)
    if dataset == "h5ad":
        source = h5ad_image_source(image, sample)
        if source is None:
            raise InputError(image, "has no uns['spatial'] image", "Name the H&E in the sample sheet's image column.")
        return source
    return ImageSource(Path(image))
