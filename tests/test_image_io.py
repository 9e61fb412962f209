import numpy as np
import pytest
import tifffile
from PIL import Image

from bad_input_files import gradient, write_pyramidal_tiff
from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage
from senca_st.method.patches import check_inside, iter_patches, patch_side


def test_jpeg_window_and_white_padding(tmp_path):
    arr = gradient(300, 400)
    p = tmp_path / "a.png"
    Image.fromarray(arr).save(p)
    with SectionImage(p) as im:
        assert (im.width, im.height) == (400, 300)
        assert np.array_equal(im.read(10, 20, 50, 60), arr[20:60, 10:50])
        win = im.read(-5, -5, 5, 5)
        assert (win[:5, :] == 255).all() and np.array_equal(win[5:, 5:], arr[:5, :5])


def test_pyramidal_tiled_bigtiff_reads_full_resolution(tmp_path):
    arr = gradient(512, 640)
    p = tmp_path / "pyr.tif"
    write_pyramidal_tiff(p, arr)
    with SectionImage(p) as im:
        assert (im.width, im.height) == (640, 512)
        assert np.array_equal(im.read(100, 200, 300, 260), arr[200:260, 100:300])


def test_16bit_tiff_scaled_to_8bit(tmp_path):
    arr = (gradient(300, 400).astype(np.uint16) * 16)  # 12-bit data in 16-bit words
    p = tmp_path / "deep.tif"
    tifffile.imwrite(p, arr, photometric="rgb")
    with SectionImage(p) as im:
        win = im.read(0, 0, 400, 300)
    assert win.dtype == np.uint8
    assert win.max() == 255
    assert np.corrcoef(win[..., 0].ravel(), arr[..., 0].ravel())[0, 1] > 0.99


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_and_rgba_become_rgb(tmp_path, mode, caplog):
    p = tmp_path / f"{mode}.png"
    Image.fromarray(gradient(300, 400)).convert(mode).save(p)
    with SectionImage(p) as im:
        assert im.read(0, 0, 10, 10).shape == (10, 10, 3)
    assert "converted to RGB" in caplog.text


def test_truncated_jpeg_is_refused_with_its_path(tmp_path):
    p = tmp_path / "cut.jpg"
    Image.fromarray(gradient(300, 400)).save(p, quality=90)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated") as err:
        SectionImage(p)
    assert str(p) in str(err.value)


def test_patches_cover_three_pitches_and_keep_spot_order(tmp_path):
    arr = gradient(600, 600)
    p = tmp_path / "img.png"
    Image.fromarray(arr).save(p)
    yy, xx = np.mgrid[0:5, 0:5]
    coords = np.stack([xx.ravel(), yy.ravel()], 1) * 20.0 + 250
    assert patch_side(coords, 3) == 120
    batches = list(iter_patches(p, coords, patch_px=32, degree=3, batch_size=10))
    assert [len(b) for b in batches] == [10, 10, 5]  # batches, in spot order
    patches = np.concatenate(batches)
    assert patches.shape == (25, 32, 32, 3) and patches.dtype == np.uint8
    # the centre pixel of each patch is the image at its spot
    for i in (0, 12, 24):
        x, y = coords[i].astype(int)
        assert np.abs(patches[i, 16, 16].astype(int) - arr[y, x].astype(int)).max() <= 12


def test_spots_outside_image_are_counted(tmp_path):
    p = tmp_path / "img.png"
    Image.fromarray(gradient(100, 100)).save(p)
    with SectionImage(p) as im, pytest.raises(InputError, match=r"2 of 3 spot centres lie outside the 100x100 image"):
        check_inside(im, np.array([[10.0, 10], [150, 10], [10, -3]]))
