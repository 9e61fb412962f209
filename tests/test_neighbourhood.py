import numpy as np
import pytest

from senca_st.method.neighbourhood import graph_k, nearest_spots, ring_size, spot_spacing


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


def _hexagonal(cols: int, rows: int, pitch: float = 100.0) -> np.ndarray:
    """Visium's layout: odd rows shifted by half a pitch, rows sqrt(3)/2 pitch apart."""
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return np.column_stack([((c + (r % 2) / 2) * pitch).ravel(), (r * pitch * np.sqrt(3) / 2).ravel()])


def test_the_first_ring_follows_the_lattice():
    square = np.stack(np.meshgrid(np.arange(20), np.arange(18)), -1).reshape(-1, 2) * 150.0
    rng = np.random.default_rng(0)
    assert ring_size(square) == 4
    assert ring_size(square + rng.normal(0, 12, square.shape)) == 4  # ST's measured spot positions wobble
    assert ring_size(_hexagonal(20, 18)) == 6
    assert graph_k("auto", _hexagonal(20, 18)) == 6 and graph_k(8, square) == 8
