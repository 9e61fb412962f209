"""Issue #4, case 4: images that are missing, broken, in unusual formats, or huge.

Broken images stop the tiling step with one line naming the image and nothing
written; grey, RGBA, palette and 16-bit images are converted (with a note) and
read correctly; a large image is decoded once and held once while tiling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from bad_input_files import gradient, temp_files, write_pyramidal_tiff
from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage


COORDS = np.array([[40.0, 40.0], [60.0, 40.0], [40.0, 60.0], [60.0, 60.0]])


def tile(image: Path, tmp_path: Path) -> Path:
    """The image_features step on four spots of ``image``: patches cut and encoded, features written."""
    import anndata as ad

    from senca_st.io.store import write_h5ad
    from senca_st.steps import image_features_step

    spots = tmp_path / "spots.h5ad"
    if not spots.exists():
        adata = ad.AnnData(np.ones((len(COORDS), 1), dtype=np.float32))
        adata.obsm["spatial"] = COORDS
        write_h5ad(adata, spots)
    out = tmp_path / "results" / "image_features.npy"
    spec = {"dataset": "her2st", "sample": "S1"}
    image_features_step(str(spots), str(image), str(out), str(out.with_suffix(".json")), 16, 1, spec, "efficientnet_lite0")
    return out


def _broken(kind: str, p: Path) -> Path:
    if kind == "missing":
        return p
    if kind == "not-an-image":
        p.write_text("x\ty\n1\t2\n")
    elif kind == "random-bytes":
        p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind in ("truncated-jpeg", "truncated-png"):
        Image.fromarray(gradient()).save(p)
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    elif kind == "truncated-tiff":
        tifffile.imwrite(p, gradient(), photometric="rgb")
        data = p.read_bytes()
        p.write_bytes(data[:200])
    elif kind == "empty":
        p.write_bytes(b"")
    return p


@pytest.mark.parametrize(
    "kind, name, message",
    [
        ("missing", "gone.jpg", "image file not found. Check the image column of the sample sheet"),
        ("not-an-image", "table.png", "cannot be read as an image (UnidentifiedImageError"),
        ("random-bytes", "noise.jpg", "cannot be read as an image"),
        ("truncated-jpeg", "cut.jpg", "image is truncated or corrupt"),
        ("truncated-png", "cut.png", "image is truncated or corrupt"),
        ("truncated-tiff", "cut.tif", "image is truncated or corrupt near x=20, y=20"),
        ("empty", "empty.jpg", "cannot be read as an image"),
    ],
)
def test_broken_image_stops_tiling_with_one_line(tmp_path, kind, name, message):
    image = _broken(kind, tmp_path / name)
    with pytest.raises(InputError) as err:
        tile(image, tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{image}: ") and message in msg and "\n" not in msg
    assert "Re-export it" in msg or "again" in msg or "sample sheet" in msg
    assert not (tmp_path / "results" / "image_features.npy").exists() and temp_files(tmp_path) == []


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "1"])
def test_unusual_modes_are_converted_with_a_note(tmp_path, mode, caplog):
    arr = gradient()
    p = tmp_path / f"{mode}.png"
    Image.fromarray(arr).convert(mode).save(p)
    expected = np.asarray(Image.fromarray(arr).convert(mode).convert("RGB"))
    with SectionImage(p) as im:
        win = im.read(10, 20, 50, 60)
    assert win.shape == (40, 40, 3) and win.dtype == np.uint8
    assert np.abs(win.astype(int) - expected[20:60, 10:50].astype(int)).max() <= 1
    assert f"{p}: image mode {mode} converted to RGB" in caplog.text


def test_transparent_pixels_become_white(tmp_path):
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[..., 0] = 100
    rgba[:, 25:, 3] = 255  # left half transparent
    p = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(p)
    with SectionImage(p) as im:
        win = im.read(0, 0, 50, 50)
    assert (win[:, :25] == 255).all()
    assert (win[:, 25:] == [100, 0, 0]).all()


def test_16bit_png_is_scaled_to_8_bits(tmp_path, caplog):
    grey = (np.mgrid[0:100, 0:100][1] * 40).astype(np.uint16)  # 0..3960: 12-bit data
    p = tmp_path / "deep.png"
    Image.fromarray(grey).save(p)
    with SectionImage(p) as im:
        win = im.read(0, 0, 100, 100)
    assert win.dtype == np.uint8 and win.max() == 255 and win.min() == 0
    assert np.corrcoef(win[..., 0].ravel(), grey.ravel())[0, 1] > 0.999
    assert "scaled to 8 bits" in caplog.text


def test_16bit_pyramidal_tiff_reads_full_resolution(tmp_path):
    arr = gradient(512, 640).astype(np.uint16) * 16
    p = tmp_path / "pyr16.tif"
    write_pyramidal_tiff(p, arr)
    with SectionImage(p) as im:
        assert (im.width, im.height) == (640, 512)
        win = im.read(100, 200, 300, 260)
    scale = 255.0 / arr[::4, ::4].max()  # from the pyramid's coarse level, as a slide viewer does
    expected = np.clip(np.rint(arr[200:260, 100:300] * scale), 0, 255).astype(np.uint8)
    assert np.abs(win.astype(int) - expected.astype(int)).max() <= 1


def test_thumbnail_of_a_jpeg_matches_the_image(tmp_path):
    arr = gradient(400, 600)
    p = tmp_path / "t.png"
    Image.fromarray(arr).save(p)
    with SectionImage(p) as im:
        thumb, factor = im.thumbnail(150)
    assert thumb.shape == (100, 150, 3) and factor == pytest.approx(0.25)


# --- memory: a huge image is held once ---------------------------------------------------------

_MEASURE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import tifffile, zarr  # imported by the TIFF reader: their code is not the image
    from senca_st.method.patches import iter_patches

    def status(key):  # kB in /proc/self/status; VmHWM is this process's peak RSS (reset by exec)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

    image, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    g = np.arange(40, n - 40, 60.0)
    coords = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # start the peak afresh, after the imports
    except OSError:
        pass
    rss0 = status("VmRSS")
    n_spots = 0
    for batch in iter_patches(image, coords, patch_px=32, degree=1, batch_size=64):
        assert batch.shape[1:] == (32, 32, 3)
        n_spots += len(batch)
    print(json.dumps({"increase": status("VmHWM") - rss0, "spots": len(coords), "cut": n_spots}))
    """
)


@pytest.mark.parametrize("fmt", ["jpeg", "tiled-tiff"])
def test_tiling_a_large_image_holds_it_at_most_once(tmp_path, fmt):
    """Peak memory while tiling stays below two copies of the decoded image (one for a tiled TIFF)."""
    n = 4000  # 4000 x 4000 RGB: 48 MB decoded
    yy, xx = np.mgrid[0:n, 0:n].astype(np.uint16)
    arr = np.stack([(xx % 256), (yy % 256), ((xx // 7 + yy // 5) % 256)], axis=2).astype(np.uint8)
    del xx, yy
    image = tmp_path / ("big.jpg" if fmt == "jpeg" else "big.tif")
    if fmt == "jpeg":
        Image.fromarray(arr).save(image, quality=85)
    else:
        tifffile.imwrite(image, arr, tile=(256, 256), photometric="rgb")
    one_copy = arr.nbytes
    del arr
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(image), "-", str(n)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    limit = 2 * one_copy if fmt == "jpeg" else 0.5 * one_copy
    print(f"{fmt}: peak RSS grew by {result['increase'] / 1e6:.0f} MB tiling a {one_copy / 1e6:.0f} MB image")
    assert result["increase"] < limit, f"peak grew by {result['increase'] / 1e6:.0f} MB for a {one_copy / 1e6:.0f} MB image"
    assert result["cut"] == result["spots"]
