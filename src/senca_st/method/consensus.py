"""One region map from a method's clusterings under several seeds.

SENCA-st's regions move with the seed (initial weights, dropout, the spots each
NT-Xent step draws), so the pipeline trains every variant once per seed
(``train.seeds``) and reports the mean ARI over seeds.  The section still needs
one answer, the method's ``clusters.tsv``; this module makes it.

The rule (Hungarian alignment + majority vote):

1. *Reference*: the medoid run, the one whose clusters agree best (summed ARI)
   with all the other runs; ties go to the earlier run (the lower seed).  A
   medoid, not simply the first seed, so that one unlucky seed never decides
   the numbering and the alignment of all the others.
2. *Align*: each run's cluster ids are matched one-to-one to the reference's
   with the Hungarian algorithm on their contingency table (spots they share),
   so "cluster 3 of seed 1" and "cluster 0 of seed 0" become the same region.
   Clusters left without a partner (a run with more clusters than the
   reference) do not vote.
3. *Vote*: each spot takes the cluster most runs give it; a tie goes to the
   reference's cluster.  With two seeds every disagreement is a tie, so the
   consensus is the reference run itself.
4. Repeat 2-3 against the consensus until it stops changing (at most
   ``MAX_ROUNDS``): a vote can move the reference a little, and the runs are
   then realigned to it.

The consensus keeps the reference run's cluster ids; a single run comes back
unchanged.  Nothing is random and runs are taken in seed order, so the same
runs always give the same answer.

Why not a co-association matrix (the fraction of seeds in which two spots share
a cluster, cut by average linkage): it is n x n, 80 GB in float64 for 100k
spots, and average linkage on it takes O(n^2) time.  Here memory is
O(n * (runs + clusters)) and time O(rounds * runs * n) plus a Hungarian match
of clusters x clusters per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score

from senca_st.evaluation.matching import assign, codes, contingency

#: Rounds of align + vote at most; the vote usually settles in two or three.
MAX_ROUNDS = 10


@dataclass(frozen=True)
class Consensus:
    """What :func:`consensus_clusters` returns."""

    labels: np.ndarray  # (n_spots,) in the reference run's cluster ids
    reference: int  # index of the medoid run whose ids the consensus keeps
    representative: int  # index of the run that agrees best with the consensus (see representative())
    rounds: int  # align + vote rounds until the consensus stopped changing


def align(run: np.ndarray, k_run: int, target: np.ndarray, k_target: int) -> np.ndarray:
    """``run``'s codes renamed to the ``target`` codes they overlap most, one-to-one (-1: no partner)."""
    rows, cols = assign(contingency(run, target, k_run, k_target))
    mapping = np.full(k_run, -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping[run]


def medoid(runs: Sequence[np.ndarray]) -> int:
    """Index of the run with the highest summed ARI to the others (the first such run on a tie)."""
    n_runs = len(runs)
    totals = np.zeros(n_runs)
    for i in range(n_runs):
        for j in range(i + 1, n_runs):
            ari = adjusted_rand_score(runs[i], runs[j])
            totals[i] += ari
            totals[j] += ari
    return int(np.argmax(totals))


def vote(aligned: Sequence[np.ndarray], k: int, fallback: np.ndarray) -> np.ndarray:
    """Per spot, the code most runs give it; ties and spots with no vote keep ``fallback``'s code."""
    n = fallback.shape[0]
    counts = np.zeros((n, k), dtype=np.int32)
    spots = np.arange(n)
    for codes in aligned:
        voted = codes >= 0
        counts[spots[voted], codes[voted]] += 1  # one vote per spot and run: no repeated index
    best = counts.max(axis=1)
    winner = counts.argmax(axis=1)
    keep = (counts[spots, fallback] == best) | (best == 0)
    return np.where(keep, fallback, winner)


def representative(runs: Sequence[np.ndarray], consensus: np.ndarray) -> int:
    """Index of the run closest (ARI) to the consensus, the first on a tie: whose embedding to publish."""
    scores = [adjusted_rand_score(run, consensus) for run in runs]
    return int(np.argmax(scores))


def consensus_clusters(runs: Sequence[np.ndarray], max_rounds: int = MAX_ROUNDS) -> Consensus:
    """The consensus of several clusterings of the same spots (the rule is in the module docstring).

    ``runs``: one label array per seed, in seed order, all over the same spots
    in the same order.  Cluster ids may differ between runs.
    """
    if not runs:
        raise ValueError("no clusterings to take a consensus of")
    n = len(runs[0])
    if any(len(run) != n for run in runs):
        raise ValueError(f"clusterings cover different numbers of spots: {[len(run) for run in runs]}")
    coded = [codes(run) for run in runs]
    ref = medoid([c for c, _ in coded])
    ref_codes, ref_ids = coded[ref]
    k = len(ref_ids)
    current = ref_codes
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        aligned = [align(c, len(ids), current, k) for c, ids in coded]
        updated = vote(aligned, k, current)
        if np.array_equal(updated, current):
            break
        current = updated
    labels = ref_ids[current]
    return Consensus(labels, ref, representative(runs, labels), rounds)
