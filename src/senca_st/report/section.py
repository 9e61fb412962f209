"""One AnnData per section that scanpy and squidpy open and draw as it is.

The pipeline's working files are split by stage (``spots.h5ad``, an
``embedding.h5ad`` and ``clusters.tsv`` per method); a user wants the result in
one object.  :func:`section_anndata` joins them in scverse's layout:

- ``X`` and ``layers['counts']``: raw counts of every gene the section has;
  ``layers['lognorm']``: library-size normalised (10^4) then log1p, what marker
  tests and expression plots read;
- ``obsm['spatial']``: spot centres in full-resolution pixels;
- ``uns['spatial'][sample]``: ``images['hires']`` (the H&E scaled to at most
  ``HIRES_PX`` on its long side) and ``scalefactors`` (``tissue_hires_scalef``
  from full-resolution pixels to it, ``spot_diameter_fullres``), the keys
  ``sc.pl.spatial`` and ``sq.pl.spatial_scatter`` look up;
- ``obs['region']``: the primary method's regions; ``obs['region_<method>']``
  for every method run on the section (categorical, ids as strings so
  plotting treats them as categories); ``obsm['X_<method>']`` their
  embeddings; ``obs['label']`` where the section is annotated;
- ``uns['senca']``: the primary method, the methods, and, where the primary
  method is gated on the image, its ``image_gate`` (``image``, ``position``,
  ``open``): whether its regions come from the fusion or from the RNA branch.

Only the spots the pipeline clustered are kept (those that passed
``preprocess.min_counts_per_spot``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc

from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage
from senca_st.io.section_image import ImageSource
from senca_st.io.store import write_h5ad
from senca_st.method.neighbourhood import spot_spacing

LOG = logging.getLogger("senca_st")

#: Long side of the H&E kept in ``uns['spatial']`` (Space Ranger's hires image is 2000 px too).
HIRES_PX = 2000

#: Spot diameter as a share of the lattice pitch: 55 of 100 µm on Visium, 100 of 200 µm on legacy ST.
SPOT_SHARE = 0.55


def region_column(method: str) -> str:
    """The ``obs`` column holding ``method``'s regions."""
    return f"region_{method}"


def _regions(path: str | Path, spots: pd.Index) -> pd.Categorical:
    table = pd.read_csv(path, sep="\t", dtype={"spot": str, "cluster": str}).set_index("spot")
    missing = spots.difference(table.index)
    if len(missing):
        raise InputError(path, f"{len(missing)} spot(s) have no cluster (e.g. {missing[0]})", "Rerun the cluster rule.")
    values = table.loc[spots, "cluster"].astype(str)
    order = sorted(pd.unique(values), key=lambda v: (len(v), v))  # numeric ids in numeric order
    return pd.Categorical(values, categories=order)


def _embedding(path: str | Path, spots: pd.Index) -> np.ndarray:
    emb = ad.read_h5ad(path)
    key = emb.uns.get("embedding_key") or next(iter(emb.obsm), None)
    if key is None or key not in emb.obsm:
        raise InputError(path, "holds no embedding in obsm", "Rerun the method's train or baseline rule.")
    missing = spots.difference(emb.obs_names)
    if len(missing):
        raise InputError(path, f"{len(missing)} spot(s) have no embedding (e.g. {missing[0]})", "Rerun the method.")
    return np.asarray(emb[spots].obsm[key])


def spatial_uns(xy: np.ndarray, image: str | Path | ImageSource | None, image_scale: float) -> dict:
    """``uns['spatial'][sample]`` for spots at ``xy`` (full-resolution pixels) on ``image`` (None: no image).

    ``image_scale`` maps full-resolution pixels onto ``image`` (1 for a
    full-resolution H&E, ``tissue_hires_scalef`` for Space Ranger's PNG).
    """
    pitch = spot_spacing(xy) if len(xy) > 1 else 1.0
    entry: dict = {"scalefactors": {"spot_diameter_fullres": SPOT_SHARE * pitch}, "metadata": {}}
    if image:
        with SectionImage(image) as img:
            thumb, factor = img.thumbnail(HIRES_PX)
        entry["images"] = {"hires": thumb}
        entry["scalefactors"]["tissue_hires_scalef"] = float(image_scale * factor)
        entry["metadata"]["source_image"] = image.describe() if isinstance(image, ImageSource) else str(image)
    return entry


def section_anndata(
    spots: str | Path,
    preprocessed: str | Path,
    clusters: dict[str, str],
    embeddings: dict[str, str],
    primary: str,
    sample: str,
    output: str | Path,
    image: str | Path | ImageSource | None = None,
    image_scale: float = 1.0,
) -> ad.AnnData:
    """Write ``results/{sample}/section.h5ad`` (see the module docstring) and return it.

    ``clusters`` / ``embeddings``: method -> its ``clusters.tsv`` / ``embedding.h5ad``;
    ``primary`` is the method whose regions become ``obs['region']``.
    """
    if primary not in clusters:
        raise ValueError(f"primary method {primary!r} is not among the methods given ({', '.join(clusters)})")
    kept = ad.read_h5ad(preprocessed, backed="r").obs_names.copy()
    full = ad.read_h5ad(spots)
    missing = kept.difference(full.obs_names)
    if len(missing):
        raise InputError(spots, f"lacks {len(missing)} spot(s) of {preprocessed}", "Rerun load_section and preprocess.")
    adata = full[kept].copy()
    if "counts" in adata.layers:  # spots.h5ad keeps the raw counts there (and in X)
        adata.X = adata.layers["counts"]
    adata.layers["counts"] = adata.X.copy()
    lognorm = sc.pp.normalize_total(adata, target_sum=1e4, inplace=False)["X"]
    adata.layers["lognorm"] = sc.pp.log1p(lognorm, copy=True)
    for method, path in clusters.items():
        adata.obs[region_column(method)] = _regions(path, kept)
    adata.obs["region"] = adata.obs[region_column(primary)]
    for method, path in embeddings.items():
        adata.obsm[f"X_{method}"] = _embedding(path, kept)
    if "label" in adata.obs:
        adata.obs["label"] = adata.obs["label"].astype("category")
    xy = np.asarray(adata.obsm["spatial"], dtype=np.float64)
    adata.uns["spatial"] = {sample: spatial_uns(xy, image, image_scale)}
    adata.uns["senca"] = {"primary_method": primary, "methods": list(clusters)}
    gate = ad.read_h5ad(embeddings[primary], backed="r").uns.get("image_gate") if primary in embeddings else None
    if gate is not None:  # whether the primary method's fusion trained on this section, and why
        adata.uns["senca"]["image_gate"] = dict(gate)
    write_h5ad(adata, output)
    LOG.info(
        "%s: %d spots, %d genes, %d methods' regions%s -> %s",
        sample, adata.n_obs, adata.n_vars, len(clusters), ", with the H&E" if image else "", output,
    )
    return adata
