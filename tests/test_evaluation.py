import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from senca_st.evaluation.metrics import agreement, mean_sd, n_regions, region_f1
from senca_st.evaluation.summary import format_metrics
from senca_st.method.clustering import cluster_spots
from senca_st.steps import resolve_n_clusters


def test_undetermined_spots_are_left_out():
    labels = pd.Series(["a", "a", "b", "b", "undetermined", "undetermined"])
    clusters = np.array([0, 0, 1, 1, 0, 1])
    scores = agreement(labels, clusters)
    assert scores["ari"] == pytest.approx(1.0)
    assert scores["n_annotated"] == 4
    assert adjusted_rand_score(labels, clusters) < 1.0


def test_region_f1_after_hungarian_matching():
    labels = pd.Series(["a"] * 4 + ["b"] * 4)
    clusters = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    f1 = region_f1(labels, clusters).set_index("region")
    assert f1.loc["a", "cluster"] == 1 and f1.loc["b", "cluster"] == 0
    assert f1.loc["a", "precision"] == 1.0 and f1.loc["a", "recall"] == 0.75
    assert f1.loc["b", "f1"] == pytest.approx(2 * 0.8 * 1.0 / 1.8)


def test_number_of_regions():
    labels = pd.Series(["x", "y", "undetermined", "z", "x"])
    assert n_regions(labels) == 3
    assert resolve_n_clusters(0, labels, 7) == 3
    assert resolve_n_clusters(4, labels, 7) == 4
    assert resolve_n_clusters(0, None, 7) == 7


def test_ward_clusters_separate_blobs():
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(0, 0.1, (20, 3)), rng.normal(5, 0.1, (20, 3))])
    c = cluster_spots(x, 2)
    assert len(set(c[:20])) == 1 and len(set(c[20:])) == 1 and c[0] != c[20]


def test_summary_has_mean_row():
    t = pd.DataFrame({"sample": ["A", "B", "A", "B"], "method": ["m", "m", "n", "n"], "ari": [0.1, 0.3, 0.5, 0.7]})
    text = format_metrics(t)
    assert "mean" in text and "0.200" in text and "0.600" in text
    header = text.splitlines()[1].split()
    assert header[-2:] == ["n", "m"]  # best method first


def test_mean_and_sd_over_seeds():
    assert mean_sd([0.5]) == (0.5, 0.0)  # one seed: sd 0, not NaN
    mean, sd = mean_sd([0.2, 0.4, 0.6])
    assert mean == pytest.approx(0.4) and sd == pytest.approx(0.2)  # sample sd (n - 1)


def test_summary_says_when_values_are_means_over_seeds():
    t = pd.DataFrame({"sample": ["A", "A"], "method": ["senca", "rna_pca"], "ari": [0.5, 0.3], "n_seeds": [5, 1]})
    assert "mean over 5 seeds" in format_metrics(t).splitlines()[0]
    assert "seeds" not in format_metrics(t.assign(n_seeds=1)).splitlines()[0]


def test_gmm_rule_recovers_regions_of_unequal_size_and_is_seeded():
    """The tied-covariance mixture finds three regions of 600, 200 and 100 spots; same seed, same answer."""
    rng = np.random.default_rng(0)
    sizes = [600, 200, 100]
    truth = np.repeat([0, 1, 2], sizes)
    centres = np.array([[0.0, 0, 0, 0, 0], [4, 0, 0, 0, 0], [0, 4, 0, 0, 0]])
    emb = centres[truth] + rng.normal(0, 0.7, (len(truth), 5))
    gmm = cluster_spots(emb, 3, method="gmm", n_components=3, seed=1)
    assert adjusted_rand_score(truth, gmm) > 0.9
    assert set(gmm) == {0, 1, 2}
    assert (cluster_spots(emb, 3, method="gmm", n_components=3, seed=1) == gmm).all()
    with pytest.raises(ValueError, match="unknown clustering method"):
        cluster_spots(emb, 3, method="kmeans")


def _blobs(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, n)
    centres = rng.normal(0, 3, (4, 8))
    return truth, centres[truth] + rng.normal(0, 1.0, (n, 8))


@pytest.mark.parametrize("method", ["gmm", "ward"])
def test_a_large_section_is_clustered_from_a_subset_like_the_whole(method):
    """Past fit_spots the rule is fitted on a subset and the rest assigned: same regions as the whole fit."""
    from senca_st.method.clustering import fit_rows, gmm_clusters, ward_clusters

    truth, emb = _blobs(3000)
    whole = gmm_clusters(emb, 4, 5, seed=0) if method == "gmm" else ward_clusters(emb, 4)
    part = gmm_clusters(emb, 4, 5, seed=0, fit_spots=400) if method == "gmm" else ward_clusters(emb, 4, fit_spots=400)
    assert len(part) == len(emb) and set(part) == {0, 1, 2, 3}
    assert adjusted_rand_score(whole, part) > 0.97 and adjusted_rand_score(truth, part) > 0.9
    rows = fit_rows(len(emb), 400, seed=0)
    if method == "ward":  # the fitted spots keep Ward's own regions on the subset
        from sklearn.cluster import AgglomerativeClustering

        own = AgglomerativeClustering(4, linkage="ward").fit_predict(emb[rows])
        assert adjusted_rand_score(own, part[rows]) == 1.0
    assert fit_rows(400, 400, seed=0) is None and len(rows) == 400 and (np.diff(rows) > 0).all()


def test_one_matcher_pairs_labellings_one_to_one():
    from senca_st.evaluation.matching import match_labels

    a = np.array(["x", "x", "x", "y", "y", "z", "z", "z"])
    b = np.array([2, 2, 1, 1, 1, 0, 0, 5])
    m = match_labels(a, b)
    assert m.pairs() == {"x": 2, "y": 1, "z": 0}
    assert m.overlap.sum() == len(a) and m.overlap.shape == (3, 4)
    # a label with no partner left (more labels than the other side has) stays unmatched
    assert set(match_labels(b, a).pairs()) == {0, 1, 2}
