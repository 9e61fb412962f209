"""Agreement between clusters and the pathologist's regions.

ARI and NMI over annotated spots (``undetermined`` left out, as in the paper),
and per-region F1 after matching clusters to regions one-to-one with the
Hungarian algorithm, which tells *which* region a method misses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from senca_st.evaluation.matching import match_labels
from senca_st.io.sections import UNDETERMINED


def annotated(labels: pd.Series) -> np.ndarray:
    """Boolean mask of spots with a usable label."""
    lab = labels.astype(str)
    return (~labels.isna().to_numpy()) & (lab != UNDETERMINED).to_numpy() & (lab != "").to_numpy()


def n_regions(labels: pd.Series) -> int:
    """Number of annotated regions (``undetermined`` excluded)."""
    return int(pd.unique(labels[annotated(labels)]).size)


def agreement(labels: pd.Series, clusters: np.ndarray) -> dict[str, float]:
    """ARI and NMI between clusters and labels over annotated spots."""
    mask = annotated(labels)
    y, c = labels.to_numpy()[mask].astype(str), np.asarray(clusters)[mask]
    return {
        "ari": float(adjusted_rand_score(y, c)),
        "nmi": float(normalized_mutual_info_score(y, c)),
        "n_annotated": int(mask.sum()),
    }


def region_f1(labels: pd.Series, clusters: np.ndarray) -> pd.DataFrame:
    """Per-region precision, recall and F1 after a one-to-one Hungarian match of clusters to regions."""
    mask = annotated(labels)
    y, c = labels.to_numpy()[mask].astype(str), np.asarray(clusters)[mask]
    m = match_labels(y, c)
    regions, cl, overlap = m.a_ids, m.b_ids, m.overlap.astype(float)
    match = dict(zip(m.rows, m.cols))
    records = []
    for i, region in enumerate(regions):
        size = overlap[i].sum()
        if i in match:
            k = match[i]
            tp, predicted = overlap[i, k], overlap[:, k].sum()
            precision = tp / predicted if predicted else 0.0
            recall = tp / size if size else 0.0
            cluster = int(cl[k])
        else:
            precision = recall = 0.0
            cluster = -1
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        records.append(
            {"region": region, "cluster": cluster, "n_spots": int(size), "precision": precision, "recall": recall, "f1": f1}
        )
    return pd.DataFrame.from_records(records)


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1) of per-seed scores; the sd of one run is 0."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0
