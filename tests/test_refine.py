"""``cluster.refine`` (senca_st.method.clustering.refine_labels): lone spots, GraphST's refinement, and the rule that applies it."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from senca_st import steps
from senca_st.errors import InputError
from senca_st.method.clustering import refine_labels
from senca_st.method.neighbourhood import nearest_spots


def grid(side: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(side * side), side)
    return np.column_stack([cols, rows]).astype(float)


def one_by_one(labels: np.ndarray, coords: np.ndarray, n: int) -> np.ndarray:
    """GraphST's rule written spot by spot: the commonest of the n nearest, a tie to the nearest."""
    out = labels.copy()
    for i, row in enumerate(labels[nearest_spots(coords, n)]):
        values, first, counts = np.unique(row, return_index=True, return_counts=True)
        top = counts == counts.max()
        out[i] = values[top][np.argmin(first[top])]
    return out


def test_a_stray_spot_takes_its_neighbours_region_and_a_straight_border_stays():
    xy = grid(7)
    labels = np.where(xy[:, 0] < 4, "a", "b")
    centre = 3 * 7 + 1  # row 3, column 1: deep inside region a
    labels[centre] = "b"
    out = refine_labels(labels, xy, 8)
    assert out[centre] == "a"  # its 8 nearest are all a; the spot itself is not counted
    assert (refine_labels(labels, xy, 0) == labels).all()
    # a border spot's 8 nearest (away from the edges, the 3 x 3 block around it) are 5 of its own side to 3
    keep = np.arange(len(labels)) != centre
    assert (out[keep] == labels[keep]).all()


def test_a_tie_goes_to_the_nearest_region():
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [-1.5, 0.0], [3.0, 0.0], [-4.0, 0.0]])
    labels = np.array(["x", "b", "a", "b", "a"])
    # spot 0's 4 nearest: b (1.0), a (1.5), b (3.0), a (4.0): two each, b is nearer
    assert refine_labels(labels, xy, 4)[0] == "b"
    assert refine_labels(labels[::-1], xy[::-1], 4)[-1] == "b"  # whatever the spots' order


@pytest.mark.parametrize("n", [1, 4, 6, 18, 50])
def test_the_vectorised_rule_is_the_rule_spot_by_spot(n):
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 30, (400, 2))
    labels = rng.integers(0, 5, 400)
    np.testing.assert_array_equal(refine_labels(labels, xy, n), one_by_one(labels, xy, n))


def hexagonal(rows: int, cols: int) -> np.ndarray:
    """Visium's lattice: every other row shifted by half a pitch, rows sqrt(3)/2 apart."""
    r, c = np.divmod(np.arange(rows * cols), cols)
    return np.column_stack([c + 0.5 * (r % 2), r * np.sqrt(3) / 2])


@pytest.mark.parametrize("lattice", ["square", "hexagonal"])
def test_a_lone_spot_takes_its_rings_region_and_a_pair_stays(lattice):
    xy = grid(9) if lattice == "square" else hexagonal(9, 9)
    labels = np.where(xy[:, 0] < 4, 0, 1)
    lone = 4 * 9 + 1  # row 4, column 1: inside region 0
    pair = [2 * 9 + 6, 2 * 9 + 7]  # two neighbours in row 2 inside region 1
    labels[lone] = 1
    labels[pair] = 2
    out = refine_labels(labels, xy, "isolated")
    assert out[lone] == 0  # none of its first ring shares its region
    assert (out[pair] == 2).all()  # each has the other in its ring: a region of two spots stays
    keep = np.setdiff1d(np.arange(len(labels)), [lone])
    assert (out[keep] == labels[keep]).all()  # the border between the regions is left as it is


def test_a_region_scattered_over_the_tissue_keeps_its_spots():
    xy = grid(10)
    labels = np.where(xy[:, 0] < 5, 0, 1)
    scattered = [11, 15, 33, 37, 55, 59, 77, 81]  # spots of a third region, none next to another
    labels[scattered] = 2
    labels[22] = 1  # and one stray of region 1 inside region 0
    out = refine_labels(labels, xy, "isolated")
    assert (out[scattered] == 2).all()  # every one of them is lone: a dispersed pattern, kept whole
    assert out[22] == 0
    assert set(np.unique(out)) == {0, 1, 2}  # no region is emptied


def test_lone_spots_are_graphsts_rule_on_the_lone_spots_alone():
    rng = np.random.default_rng(7)
    xy = hexagonal(20, 20)
    labels = np.where(xy[:, 0] < 10, 0, 1)
    noise = rng.random(len(xy)) < 0.08
    labels[noise] = rng.integers(0, 2, int(noise.sum()))  # strays of either region inside the other
    own_ring = labels[nearest_spots(xy, 6)]
    lone = ~(own_ring == labels[:, None]).any(axis=1)
    assert lone.any() and lone.mean() < 0.2
    expected = np.where(lone, one_by_one(labels, xy, 6), labels)
    np.testing.assert_array_equal(refine_labels(labels, xy, "isolated"), expected)


@pytest.mark.parametrize("refine", [-1, "all", 2.5])
def test_an_unknown_refinement_is_refused(refine):
    with pytest.raises(ValueError, match="cluster.refine must be isolated, 0 or a number of nearest spots"):
        refine_labels(np.array([0, 1, 0]), np.array([[0.0, 0], [1, 0], [2, 0]]), refine)


def test_sections_are_refined_apart_and_a_small_one_uses_all_its_spots():
    # two sections on the same coordinates: each spot's neighbours must come from its own section
    xy = np.vstack([grid(5), grid(5)])
    section = np.repeat(["s1", "s2"], 25)
    labels = np.where(section == "s1", 0, 1)
    labels[12] = 1  # s1's centre carries s2's region
    out = refine_labels(labels, xy, 8, section)
    assert (out == np.where(section == "s1", 0, 1)).all()
    line = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0]])
    assert (refine_labels(np.array([5, 5, 7, 5]), line, 50) == [5, 5, 5, 5]).all()  # 50 > its 3 other spots


def _files(tmp_path, X, names, coords=None):
    emb = ad.AnnData(obs=pd.DataFrame(index=names))
    emb.obsm["X_senca"] = X.astype(np.float32)
    emb.uns["embedding_key"] = "X_senca"
    emb.write_h5ad(tmp_path / "embedding.h5ad")
    spots = ad.AnnData(obs=pd.DataFrame(index=names[::-1]))  # another order than the embedding's
    if coords is not None:
        spots.obsm["spatial"] = coords[::-1]
    spots.write_h5ad(tmp_path / "spots.h5ad")
    return str(tmp_path / "embedding.h5ad"), str(tmp_path / "spots.h5ad")


def test_the_cluster_rule_refines_on_the_spots_positions(tmp_path, caplog):
    xy = grid(12)
    region = (xy[:, 0] >= 6).astype(int)
    rng = np.random.default_rng(0)
    X = np.column_stack([region * 6.0, np.zeros(len(xy))]) + rng.normal(size=(len(xy), 2))
    stray = [14, 40, 100]  # inside region 0, given region 1's expression
    X[stray, 0] += 6.0
    names = [f"s{i}" for i in range(len(xy))]
    emb, spots = _files(tmp_path, X, names, xy)
    out = {}
    for n in (0, 8):
        with caplog.at_level("INFO", logger="senca_st"):
            steps.cluster_step(emb, spots, str(tmp_path / f"c{n}.tsv"), 2, 5, pcs=2, refine=n)
        out[n] = pd.read_csv(tmp_path / f"c{n}.tsv", sep="\t").set_index("spot").loc[names, "cluster"].to_numpy()
    zero = out[0][0]  # region 0's id
    assert not (out[0][stray] == zero).any()  # the mixture follows the expression
    assert (out[8][stray] == zero).all()  # refined, the positions win
    # each spot's neighbours are read from the spots file's positions, whatever its order
    np.testing.assert_array_equal(out[8], refine_labels(out[0], xy, 8))
    assert "refined (cluster.refine: 8): each spot took the commonest region among its 8 nearest spots" in caplog.text


def test_the_cluster_rule_says_when_there_are_no_positions_to_refine_by(tmp_path):
    X = np.random.default_rng(1).normal(size=(40, 3))
    emb, spots = _files(tmp_path, X, [f"s{i}" for i in range(40)])
    with pytest.raises(InputError, match=r"has no obsm\['spatial'\] to refine the regions by"):
        steps.cluster_step(emb, spots, str(tmp_path / "c.tsv"), 2, 5, pcs=3, refine=4)
    assert not (tmp_path / "c.tsv").exists()
