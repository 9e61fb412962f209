import gzip

import numpy as np
import pandas as pd
import pytest

from senca_st.errors import InputError
from senca_st.io.sections import UNDETERMINED, read_st_section

# Spots under tissue with a count row, per the upstream files.
EXPECTED_SPOTS = {"A1": 346, "B1": 295, "C1": 176, "D1": 306}


@pytest.mark.parametrize("section", sorted(EXPECTED_SPOTS))
def test_real_her2st_section(her2st_root, section):
    d = her2st_root / "data"
    adata = read_st_section(
        d / f"ST-cnts/{section}.tsv.gz",
        d / f"ST-spotfiles/{section}_selection.tsv",
        d / f"ST-pat/lbl/{section}_labeled_coordinates.tsv",
    )
    assert adata.n_obs == EXPECTED_SPOTS[section]
    assert np.array_equal(adata.X.toarray(), adata.layers["counts"].toarray())
    assert adata.obsm["spatial"].shape == (adata.n_obs, 2)
    # pixel coordinates are full resolution (thousands of pixels), not array units
    assert adata.obsm["spatial"].max() > 1000
    regions = set(adata.obs["label"]) - {UNDETERMINED}
    assert len(regions) == {"A1": 5, "B1": 4, "C1": 3, "D1": 3}[section]
    spot = adata.obs_names[0]
    x, y = map(int, spot.split("x"))
    assert (adata.obs.loc[spot, "array_col"], adata.obs.loc[spot, "array_row"]) == (x, y)


def _write_section(tmp_path, counts: pd.DataFrame, spots: pd.DataFrame):
    c, s = tmp_path / "c.tsv.gz", tmp_path / "s.tsv"
    with gzip.open(c, "wt") as fh:
        counts.to_csv(fh, sep="\t")
    spots.to_csv(s, sep="\t", index=False)
    return c, s


def _tiny():
    counts = pd.DataFrame([[1, 2], [3, 4], [0, 5]], index=["1x1", "2x1", "3x1"], columns=["G1", "G2"])
    spots = pd.DataFrame({"x": [1, 2, 3], "y": [1, 1, 1], "pixel_x": [10.0, 20, 30], "pixel_y": [5.0, 5, 5], "selected": [1, 1, 0]})
    return counts, spots


def test_only_spots_under_tissue_are_kept(tmp_path):
    c, s = _write_section(tmp_path, *_tiny())
    adata = read_st_section(c, s)
    assert list(adata.obs_names) == ["1x1", "2x1"]
    assert adata.obsm["spatial"].tolist() == [[10.0, 5.0], [20.0, 5.0]]


def test_labels_rounded_from_adjusted_coordinates(tmp_path):
    c, s = _write_section(tmp_path, *_tiny())
    lab = tmp_path / "l.tsv"
    pd.DataFrame({"x": [1.02, 9.0], "y": [0.97, 9.0], "label": ["stroma", "invasive cancer"]}).to_csv(lab, sep="\t", index=False)
    adata = read_st_section(c, s, lab)
    assert adata.obs["label"].tolist() == ["stroma", UNDETERMINED]


def test_spot_ids_matching_no_count_row_name_both_files(tmp_path):
    counts, spots = _tiny()
    spots["x"] += 100
    c, s = _write_section(tmp_path, counts, spots)
    with pytest.raises(InputError, match=r"none of the 2 spot ids .* match the 3 count rows") as err:
        read_st_section(c, s)
    assert str(s) in str(err.value)
