"""Does this section's image tell the regions apart?  The image gate the fused model is trained behind.

The fused model earns its place where the H&E shows what the expression's
regions are made of (a tumour's in situ and invasive parts, its immune
infiltrate) and costs accuracy where the image shows little of them (cortical
layers at Visium's 600 px lowres: DLPFC 151674 lost 0.08 ARI against
``senca_rna``, docs/benchmarks.md).  The spot graph already knows where each
spot is, so the question the gate asks is whether the image knows more about
the expression's regions than the spots' positions do:

- the spots are partitioned three ways by k-means: on the image features'
  leading components, on the expression's (what the RNA branch reads) and on
  the spot coordinates;
- ``image`` is the ARI between the image's and the expression's partitions,
  ``position`` the ARI between the positions' and the expression's;
- both are averaged over k = 3..8 (the number of regions is not known yet when
  training runs, and may be chosen after it: ``n_clusters: auto``), and the
  gate opens when ``image > position``.

A closed gate trains the RNA branch alone: under a seed the result is exactly
``senca_rna``'s.  The statistic has no tuned threshold, but it was chosen after
seeing the four sections measured here (the demo +0.06, HER2ST A1 +0.14, DLPFC
151673 −0.10 and 151674 −0.13; docs/benchmarks.md "The image gate"), where it
opens on the two sections the image helps and closes on the two it hurts.
Every quantity is computed with fixed random states, so every seed of a section
gets the same decision: the pipeline computes it once per section (rule
``image_gate``, :func:`image_gate_step`, ``results/<section>/image_gate.json``) and
every fused training job of the section reads it.  ``train.image_gate: false``
trains the fusion whatever the image shows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from senca_st.method.baselines import pca_embedding

#: Region counts the agreement is averaged over.
GATE_KS = tuple(range(3, 9))
#: Leading components of the expression and of the image features the partitions are made on
#: (those of the RNA branch's input and of the PCA baselines).
GATE_PCS = 20
#: At most this many spots (a fixed random subset) are partitioned: k-means on more adds time, not information.
GATE_SPOTS = 20_000


@dataclass(frozen=True)
class ImageGate:
    """The gate's decision and the two agreements it compares (mean ARI with the expression's partition)."""

    image: float
    position: float

    @property
    def open(self) -> bool:
        return self.image > self.position

    def describe(self) -> str:
        verdict = "open: the fusion trains" if self.open else "closed: the RNA branch alone trains (senca_rna)"
        return (
            f"image gate {verdict} (agreement with the expression's regions, mean ARI over k "
            f"{GATE_KS[0]}-{GATE_KS[-1]}: image {self.image:.3f}, spot positions {self.position:.3f})"
        )

    def as_dict(self) -> dict[str, float | bool]:
        return {**asdict(self), "open": self.open}

    @classmethod
    def read(cls, path: str | Path) -> ImageGate:
        """The gate :func:`image_gate_step` wrote; a clear error naming the file when it is not one."""
        from senca_st.errors import InputError

        try:
            data = json.loads(Path(path).read_text())
            return cls(float(data["image"]), float(data["position"]))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise InputError(
                str(path), f"is not an image gate file ({type(err).__name__}: {err})", "Re-run rule image_gate."
            ) from err


def _partition(a: np.ndarray, k: int) -> np.ndarray:
    return KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(a)


def image_gate(expression: np.ndarray, image_features: np.ndarray, coords: np.ndarray) -> ImageGate:
    """Compare how well the image's and the positions' partitions of the spots match the expression's.

    ``expression``: (n, genes) the section's HVG expression; ``image_features``: (n, f) the
    encoder's features; ``coords``: (n, 2) spot positions.  The same for every seed.
    """
    n = expression.shape[0]
    rows = np.arange(n)
    if n > GATE_SPOTS:
        rows = np.sort(np.random.default_rng(0).choice(n, GATE_SPOTS, replace=False))
    expr = pca_embedding(expression[rows], GATE_PCS)
    img = pca_embedding(image_features[rows], GATE_PCS)
    xy = np.asarray(coords[rows], dtype=np.float64)
    ks = [k for k in GATE_KS if k < len(rows)] or [min(2, len(rows))]
    agree_image, agree_position = [], []
    for k in ks:
        e = _partition(expr, k)
        agree_image.append(adjusted_rand_score(e, _partition(img, k)))
        agree_position.append(adjusted_rand_score(e, _partition(xy, k)))
    return ImageGate(float(np.mean(agree_image)), float(np.mean(agree_position)))


def image_gate_step(preprocessed: str, features: str, out: str) -> ImageGate:
    """Rule ``image_gate``: preprocessed.h5ad + image_features.npy -> image_gate.json (once per section)."""
    import logging

    from senca_st.io.store import read_image_features, read_preprocessed, write_json

    adata, X, coords = read_preprocessed(preprocessed)
    feats = read_image_features(features, adata.n_obs, preprocessed)
    # the dtypes train_section computes the gate on, so that both give the same figures
    gate = image_gate(np.asarray(X, dtype=np.float32), feats.astype(np.float32), coords)
    logging.getLogger("senca_st").info(gate.describe())
    write_json({**gate.as_dict(), "ks": list(GATE_KS), "pcs": GATE_PCS, "spots": int(min(adata.n_obs, GATE_SPOTS))}, out)
    return gate
