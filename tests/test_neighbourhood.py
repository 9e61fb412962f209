import numpy as np
import pytest

from senca_st.method.neighbourhood import nearest_spots, spot_spacing


def square_lattice(n=6, pitch=10.0):
    yy, xx = np.mgrid[0:n, 0:n]
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(float) * pitch


def test_interior_spot_links_to_its_four_lattice_neighbours():
    coords = square_lattice()
    nbrs = nearest_spots(coords, 4)
    i = 2 * 6 + 2  # interior spot (2, 2)
    assert set(nbrs[i]) == {i - 1, i + 1, i - 6, i + 6}
    assert not (nbrs == np.arange(len(coords))[:, None]).any()


def test_spacing_is_the_lattice_pitch():
    assert spot_spacing(square_lattice(pitch=222.0)) == pytest.approx(222.0)


def test_too_few_spots_for_k():
    with pytest.raises(ValueError, match="needs more than 4 spots"):
        nearest_spots(np.zeros((4, 2)), 4)
