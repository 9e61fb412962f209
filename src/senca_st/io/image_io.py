"""Read H&E images of any size without holding more than one copy.

Sections come as JPEG/PNG (HER2ST, the demo, Visium hires), TIFF, often
pyramidal BigTIFF from a slide scanner, or an array kept in an ``.h5ad``'s
``uns['spatial']`` (:mod:`senca_st.io.section_image`).  Patch tiling only needs small windows,
so TIFFs are read window by window through tifffile's zarr store (only the
tiles a window touches are decoded) and JPEG/PNG are decoded once and cropped
in place.  Whatever the source, windows come out as 8-bit RGB.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from senca_st.errors import InputError
from senca_st.io.section_image import ImageSource, read_uns_image

LOG = logging.getLogger("senca_st")

# Whole-slide H&E exceeds PIL's decompression-bomb guard (89 Mpx) by design.
Image.MAX_IMAGE_PIXELS = 4_000_000_000
ImageFile.LOAD_TRUNCATED_IMAGES = False

TIFF_SUFFIXES = {".tif", ".tiff", ".svs", ".btf"}


def _full_scale(dtype: np.dtype) -> float:
    """The value that means 'opaque' in an alpha channel of ``dtype``."""
    return float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0


def _to_rgb8(arr: np.ndarray, scale: float | None) -> np.ndarray:
    """Channels-last 8-bit RGB from grey, grey+alpha, RGB, RGBA or 16-bit data.

    ``scale`` maps deeper-than-8-bit values onto 0..255.  Transparent pixels
    become white (slide background), as an image viewer shows them.
    """
    if arr.ndim == 2:
        arr = arr[..., None]
    alpha = None
    if arr.shape[2] in (2, 4):
        arr, alpha = arr[..., :-1], arr[..., -1:]
    elif arr.shape[2] > 4:
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        arr = np.clip(arr.astype(np.float32) * (scale or 1.0), 0, 255)
    if alpha is not None:
        a = alpha.astype(np.float32) / _full_scale(alpha.dtype)
        arr = arr.astype(np.float32) * a + 255.0 * (1.0 - a)
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


# PIL modes whose windows are converted to RGB one at a time (the image is held once, as decoded).
_WINDOW_MODES = {"RGB", "L", "RGBA", "LA", "I;16", "I;16B", "I;16L", "I"}


class SectionImage:
    """An H&E image read window by window; ``width``/``height`` in pixels.

    The decoded image is held once (PIL's buffer for JPEG/PNG, nothing for a
    tiled TIFF); grey, RGBA and 16-bit data are converted window by window.
    """

    def __init__(self, path: str | Path | ImageSource) -> None:
        source = path if isinstance(path, ImageSource) else None
        self.path = Path(source.path if source else path)
        if not self.path.exists():
            raise InputError(self.path, "image file not found", "Check the image column of the sample sheet or rerun the download.")
        if self.path.is_dir():
            raise InputError(self.path, "is a directory, not an image", "Name the image file itself in the sample sheet.")
        self._pil: Image.Image | None = None
        self._zarr = None
        self._tif = None
        self._scale: float | None = None
        self._channels_first = False
        try:
            if source is not None and source.key:
                self._pil = Image.fromarray(read_uns_image(source))
                self.width, self.height = self._pil.size
            elif self.path.suffix.lower() in TIFF_SUFFIXES:
                self._open_tiff()
            else:
                self._open_pil()
        except InputError:
            self.close()
            raise
        except Exception as err:  # PIL and tifffile raise many types for broken files
            self.close()
            raise InputError(self.path, f"cannot be read as an image ({type(err).__name__}: {err})", "Re-export it as JPEG, PNG or TIFF.") from err

    def _open_pil(self) -> None:
        im = Image.open(self.path)
        try:
            im.load()  # decode once, here, so a truncated file fails now and not half-way through tiling
        except OSError as err:
            im.close()
            raise InputError(self.path, f"image is truncated or corrupt ({err})", "Copy or download it again.") from err
        if im.mode not in _WINDOW_MODES:
            LOG.warning("%s: image mode %s converted to RGB", self.path, im.mode)
            converted = im.convert("RGBA" if "transparency" in im.info else "RGB")
            im.close()
            im = converted
        elif im.mode != "RGB":
            LOG.warning("%s: image mode %s converted to RGB window by window", self.path, im.mode)
        if im.mode.startswith("I"):
            lo, hi = im.getextrema()
            self._scale = 255.0 / max(float(hi), 1.0)
            LOG.warning("%s: %s image scaled to 8 bits (x%.4g)", self.path, im.mode, self._scale)
        self._pil = im
        self.width, self.height = im.size

    def _open_tiff(self) -> None:
        import tifffile
        import zarr

        self._tif = tifffile.TiffFile(self.path)
        series = self._tif.series[0]
        level = series.levels[0] if getattr(series, "levels", None) else series
        shape = level.shape
        store = zarr.open(series.aszarr(level=0), mode="r")
        # tifffile exposes a pyramid as a multiscale group; level 0 is its first array.
        self._zarr = store if isinstance(store, zarr.Array) else store[next(iter(store.array_keys()))]
        if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[2] > 4:
            self._channels_first = True
            self.height, self.width = shape[1], shape[2]
        else:
            self.height, self.width = shape[0], shape[1]
        dtype = np.dtype(level.dtype)
        if dtype != np.uint8:
            # 16-bit scans often use 12 of 16 bits: scale by the brightest value of a coarse view.
            coarse = series.levels[-1] if len(getattr(series, "levels", [])) > 1 else None
            sample = coarse.asarray() if coarse is not None else self._window(0, 0, self.width, self.height, step=max(1, self.width // 512))
            self._scale = 255.0 / max(float(np.max(sample)), 1.0)
            LOG.warning("%s: %s image scaled to 8 bits (x%.4g)", self.path, dtype, self._scale)
        if len(series.levels if getattr(series, "levels", None) else [series]) > 1:
            LOG.info("%s: pyramidal TIFF, reading full-resolution level %s", self.path, shape)

    def _window(self, x0: int, y0: int, x1: int, y1: int, step: int = 1) -> np.ndarray:
        if self._channels_first:
            return np.moveaxis(np.asarray(self._zarr[:, y0:y1:step, x0:x1:step]), 0, -1)
        return np.asarray(self._zarr[y0:y1:step, x0:x1:step])

    def read(self, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """RGB uint8 window ``[y0:y1, x0:x1]``; parts outside the image are white (slide background)."""
        out = np.full((y1 - y0, x1 - x0, 3), 255, dtype=np.uint8)
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, self.width), min(y1, self.height)
        if cx1 <= cx0 or cy1 <= cy0:
            return out
        try:
            if self._pil is not None:
                win = np.asarray(self._pil.crop((cx0, cy0, cx1, cy1)))
            else:
                win = self._window(cx0, cy0, cx1, cy1)
        except Exception as err:  # a TIFF's tiles are decoded only when a window touches them
            raise InputError(
                self.path, f"image is truncated or corrupt near x={cx0}, y={cy0} ({type(err).__name__}: {err})", "Copy or download it again."
            ) from err
        out[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = _to_rgb8(win, self._scale)
        return out

    def thumbnail(self, max_side: int = 1200) -> tuple[np.ndarray, float]:
        """A small RGB view for figures and the factor from full resolution to it."""
        factor = min(1.0, max_side / max(self.width, self.height))
        if self._pil is not None:
            size = (max(1, int(self.width * factor)), max(1, int(self.height * factor)))
            small = self._pil if factor == 1.0 else self._pil.resize(size, Image.BILINEAR, reducing_gap=2.0)
            return _to_rgb8(np.asarray(small), self._scale), size[0] / self.width
        step = max(1, int(round(1 / factor)))
        arr = _to_rgb8(self._window(0, 0, self.width, self.height, step=step), self._scale)
        return arr, arr.shape[1] / self.width

    def close(self) -> None:
        if self._tif is not None:
            self._tif.close()
        if self._pil is not None:
            self._pil.close()

    def __enter__(self) -> SectionImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
