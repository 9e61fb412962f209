"""benchmarks/rna_input.py: GraphST's label refinement and the count-split gene reliability it measures with."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from workflow_copy import REPO


@pytest.fixture(scope="module")
def rna_input():
    # the script imports its sibling benchmark modules (loso, peers) by name
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("rna_input", REPO / "benchmarks" / "rna_input.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
        for name in ("rna_input", "loso", "peers"):
            sys.modules.pop(name, None)


def grid(side: int) -> np.ndarray:
    rows, cols = np.divmod(np.arange(side * side), side)
    return np.column_stack([cols, rows]).astype(float)


def test_refined_takes_the_neighbours_commonest_region(rna_input):
    xy = grid(7)
    labels = np.where(xy[:, 0] < 4, "a", "b")
    centre = 3 * 7 + 1  # row 3, column 1: deep inside region a
    labels[centre] = "b"
    out = rna_input.refined(labels, xy, 8)
    assert out[centre] == "a"  # its 8 nearest are all a; the spot itself is not counted
    assert (rna_input.refined(labels, xy, 0) == labels).all()
    # the regions' straight border survives: a border spot's 8 nearest (away from the edges, the
    # 3 x 3 block around it) are 5 of its own side to 3
    keep = np.arange(len(labels)) != centre
    assert (out[keep] == labels[keep]).all()


def test_refined_gives_a_tie_to_the_nearest_region(rna_input):
    xy = np.array([[0.0, 0.0], [1.0, 0.0], [-1.5, 0.0], [3.0, 0.0], [-4.0, 0.0]])
    labels = np.array(["x", "b", "a", "b", "a"])
    # spot 0's 4 nearest: b (1.0), a (1.5), b (3.0), a (4.0): two each, b is nearer
    assert rna_input.refined(labels, xy, 4)[0] == "b"


def test_reliability_separates_counting_noise_from_expression(rna_input):
    rng = np.random.default_rng(0)
    spots = 400
    varying = rng.gamma(2.0, 10.0, spots)  # a gene whose level differs from spot to spot
    steady = np.full(spots, 20.0)  # the same level everywhere: its variation is counting noise alone
    other = rng.poisson(200.0, (spots, 20))  # the rest of the spot's counts
    counts = np.column_stack([rng.poisson(varying), rng.poisson(steady), other])
    r = rna_input.reliability(counts)
    assert r.shape == (22,)
    assert ((r >= 0) & (r <= 1)).all()
    assert r[0] > 0.8
    assert r[1] < 0.2
