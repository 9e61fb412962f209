"""One-to-one matching of two labellings of the same spots, the one rule every caller uses.

Clusters are matched to pathologist regions (per-region F1, the region maps'
colours) and one seed's clusters to another's (the consensus) the same way:
the contingency table of spots shared by each pair, then the one-to-one
assignment of largest total overlap (Hungarian algorithm, scipy's
``linear_sum_assignment``).  Codes keep the contingency table O(n) to build
whatever the labels are (strings, integers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def codes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` as codes 0..m-1 and the sorted distinct values they stand for."""
    ids, inverse = np.unique(np.asarray(labels), return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), ids


def contingency(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """(ka, kb) counts of spots with code i in ``a`` and code j in ``b``, in O(n) memory."""
    return np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)


def assign(overlap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the one-to-one assignment of largest total ``overlap``."""
    return linear_sum_assignment(overlap, maximize=True)


@dataclass(frozen=True)
class Match:
    """The one-to-one match of labelling ``a`` onto labelling ``b``."""

    a_ids: np.ndarray  # distinct values of a (rows of overlap)
    b_ids: np.ndarray  # distinct values of b (columns)
    overlap: np.ndarray  # (len(a_ids), len(b_ids)) spots shared
    rows: np.ndarray  # matched pairs: a_ids[rows[i]] <-> b_ids[cols[i]]
    cols: np.ndarray

    def pairs(self, min_overlap: int = 1) -> dict:
        """a value -> the b value matched to it, for pairs sharing at least ``min_overlap`` spots."""
        return {
            self.a_ids[i]: self.b_ids[j] for i, j in zip(self.rows, self.cols) if self.overlap[i, j] >= min_overlap
        }


def match_labels(a: np.ndarray, b: np.ndarray) -> Match:
    """Match the values of ``a`` one to one onto those of ``b`` (the same spots, in the same order)."""
    ca, a_ids = codes(a)
    cb, b_ids = codes(b)
    overlap = contingency(ca, cb, len(a_ids), len(b_ids))
    rows, cols = assign(overlap)
    return Match(a_ids, b_ids, overlap, rows, cols)
