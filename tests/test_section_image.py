"""The image a section is read from and its scale (senca_st.io.section_image): an .h5ad's
uns['spatial'] image as scanpy/squidpy keep it, the image_scale column for a downscaled H&E, and clear
errors for an uns['spatial'] without images or scale factors or a scale that puts spots off the image."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from PIL import Image

from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage
from senca_st.io.section_image import ImageSource, h5ad_image_source, read_uns_image, resolve_image
from senca_st.method.patches import iter_patches
from senca_st.samplesheet import load_sample_sheet

REPO = Path(__file__).resolve().parents[1]
SHEET_SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"
FULL = (800, 600)  # full-resolution frame (w, h) in which the spot coordinates lie


def tissue(w: int, h: int) -> np.ndarray:
    """A smooth RGB picture of the full-resolution frame, sampled at w x h."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), 128 + 0 * xx], axis=2).astype(np.uint8)


def spots() -> np.ndarray:
    gx, gy = np.meshgrid(np.arange(100, 700, 100.0), np.arange(100, 500, 100.0))
    return np.column_stack([gx.ravel(), gy.ravel()])


def visium_like(path: Path, images: dict[str, float] | None = None, library: str = "lib1", scalefactors: bool = True, extra_library: bool = False) -> Path:
    """An .h5ad in scanpy's Visium layout: images as floats in [0, 1] (as scanpy.read_visium keeps them)."""
    xy = spots()
    a = ad.AnnData(np.ones((len(xy), 3), dtype=np.float32))
    a.obsm["spatial"] = xy
    if images is not None:
        entry: dict = {"images": {}, "scalefactors": {"spot_diameter_fullres": 55.0}, "metadata": {}}
        for key, scale in images.items():
            entry["images"][key] = tissue(int(FULL[0] * scale), int(FULL[1] * scale)).astype(np.float32) / 255.0
            if scalefactors:
                entry["scalefactors"][f"tissue_{key}_scalef"] = scale
        a.uns["spatial"] = {library: entry}
        if extra_library:
            a.uns["spatial"]["other"] = entry
    a.write_h5ad(path)
    return path


def test_hires_before_lowres_with_its_scale(tmp_path):
    path = visium_like(tmp_path / "s.h5ad", {"lowres": 0.1, "hires": 0.5})
    src = h5ad_image_source(path, "s1")
    assert src == ImageSource(path, 0.5, "lib1", "hires")
    arr = read_uns_image(src)
    assert arr.dtype == np.uint8 and arr.shape == (300, 400, 3)
    assert np.abs(arr.astype(int) - tissue(400, 300)).max() <= 1  # floats in [0, 1] back to 8 bits
    only_low = h5ad_image_source(visium_like(tmp_path / "l.h5ad", {"lowres": 0.1}), "s1")
    assert only_low.key == "lowres" and only_low.scale == pytest.approx(0.1)
    assert h5ad_image_source(visium_like(tmp_path / "n.h5ad", None), "s1") is None  # no uns['spatial']: RNA only


def test_patches_from_the_h5ad_image_match_the_same_image_as_a_file(tmp_path):
    h5 = visium_like(tmp_path / "s.h5ad", {"hires": 0.5})
    src = h5ad_image_source(h5, "s1")
    png = tmp_path / "hires.png"
    Image.fromarray(read_uns_image(src)).save(png)
    a = np.concatenate(list(iter_patches(src, spots(), patch_px=32, degree=1, image_scale=src.scale)))
    b = np.concatenate(list(iter_patches(png, spots(), patch_px=32, degree=1, image_scale=0.5)))
    assert a.shape == (24, 32, 32, 3) and np.array_equal(a, b)
    with SectionImage(src) as img:
        assert (img.width, img.height) == (400, 300)


def test_a_downscaled_image_with_its_image_scale_gives_the_full_resolution_patches(tmp_path):
    """HER2ST's viewer PNG is 0.2876 of the frame its spot file's pixel_x/pixel_y are in."""
    full, small = tmp_path / "full.png", tmp_path / "small.png"
    Image.fromarray(tissue(*FULL)).save(full)
    Image.fromarray(tissue(200, 150)).save(small)
    src = resolve_image(str(small), "her2st", "A1", user_image=str(small), image_scale="0.25")
    assert src.scale == 0.25
    a = np.concatenate(list(iter_patches(src, spots(), patch_px=16, degree=1, image_scale=src.scale))).astype(int)
    b = np.concatenate(list(iter_patches(full, spots(), patch_px=16, degree=1))).astype(int)
    assert np.abs(a - b).mean() < 4  # the same tissue, seen at a quarter of the pixels
    with pytest.raises(InputError, match="spot centres lie outside the 200x150 image"):
        next(iter_patches(small, spots(), patch_px=16, degree=1))  # the scale forgotten: spots off the image


def test_resolve_image_by_dataset(tmp_path):
    h5 = visium_like(tmp_path / "s.h5ad", {"hires": 0.5})
    assert resolve_image(str(h5), "h5ad", "s1").key == "hires"
    assert resolve_image(None, "h5ad", "s1") is None
    assert resolve_image("resources/demo/d/image.png", "demo", "d") == ImageSource(Path("resources/demo/d/image.png"))
    for bad in ("0", "-1", "x", "nan", "inf"):
        with pytest.raises(InputError, match="image_scale .* is not a positive number"):
            resolve_image("a.png", "her2st", "A1", user_image="a.png", image_scale=bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": {}}, "uns['spatial']['lib1'] has no hires or lowres image. Name the H&E in the sample sheet's image column, or write 'none'"),
        ({"images": {"hires": 0.5}, "scalefactors": False}, "has a hires image but no scalefactors['tissue_hires_scalef']"),
        ({"images": {"hires": 0.5}, "extra_library": True}, "uns['spatial'] holds 2 libraries (lib1, other) and none is named 's1'"),
    ],
)
def test_unusable_uns_spatial_is_an_error_naming_the_file(tmp_path, kwargs, message):
    path = visium_like(tmp_path / "s.h5ad", **kwargs)
    with pytest.raises(InputError) as err:
        h5ad_image_source(path, "s1")
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tdataset\th5ad\ns1\th5ad\t{path}\n")
    with pytest.raises(InputError, match=message.split(".")[0].replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_sample_sheet(sheet, schema=SHEET_SCHEMA)  # refused before any job, naming the sheet and the row
    sheet.write_text(f"sample\tdataset\th5ad\timage\ns1\th5ad\t{path}\tnone\n")
    assert load_sample_sheet(sheet, schema=SHEET_SCHEMA).loc["s1", "image"] == "none"  # run without: fine


def test_the_library_named_like_the_section_is_chosen(tmp_path):
    path = visium_like(tmp_path / "s.h5ad", {"hires": 0.5}, library="s1", extra_library=True)
    assert h5ad_image_source(path, "s1").library_id == "s1"


@pytest.mark.parametrize(
    "row, message",
    [
        ("A1\ther2st\t\t0.3", "sample 'A1': image_scale is given but the image column names no image"),
        ("A1\ther2st\t{image}\t0", "sample 'A1': image_scale '0' is not a positive number"),
        ("A1\ther2st\t{image}\tabc", "sample 'A1': image_scale 'abc' is not a positive number"),
    ],
)
def test_bad_image_scale_in_the_sheet(tmp_path, row, message):
    image = tmp_path / "he.png"
    Image.fromarray(tissue(20, 20)).save(image)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tdataset\timage\timage_scale\n" + row.format(image=image) + "\n")
    with pytest.raises(InputError) as err:
        load_sample_sheet(sheet, schema=SHEET_SCHEMA)
    assert str(err.value).startswith(f"{sheet}: ") and message in str(err.value)
    sheet.write_text(f"sample\tdataset\timage\timage_scale\nA1\ther2st\t{image}\t0.2876\n")
    assert load_sample_sheet(sheet, schema=SHEET_SCHEMA).loc["A1", "image_scale"] == "0.2876"
