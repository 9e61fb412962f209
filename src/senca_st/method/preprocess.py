"""Expression preprocessing: normalise, log1p, keep the most variable genes.

SENCA-st feeds the most variable genes to its graph transformer (the paper
keeps 500; the default, 3000, carries over to sections the settings were not
chosen on: README, "How it compares"); normalising library size first stops
sequencing depth from masquerading as a spatial domain.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import scanpy as sc

from senca_st.defaults import default
from senca_st.errors import InputError
from senca_st.io.store import dense

LOG = logging.getLogger("senca_st")

#: scanpy's HVG flavour (``preprocess.hvg_flavor``; ``seurat``: normalised dispersion within bins
#: of mean expression, on the log data). Of scanpy's flavours it is the one that keeps HER2ST's
#: regions: ``seurat_v3`` (GraphST's and STAGATE's, on raw counts) lifts DLPFC and costs HER2ST
#: A1-D1 about 0.1 ARI; ``cell_ranger``'s lead on HER2ST's untrained input does not survive
#: training (docs/benchmarks.md, "Which genes").
HVG_FLAVOR: str = default("preprocess.hvg_flavor")
#: the flavours :func:`log_top_genes` takes; ``seurat_v3`` ranks raw counts, the others the log data.
HVG_FLAVORS = ("seurat", "seurat_v3", "cell_ranger")


def preprocess_section(
    adata: ad.AnnData,
    n_top_genes: int = default("preprocess.n_top_genes"),
    min_spots_per_gene: int = default("preprocess.min_spots_per_gene"),
    min_counts_per_spot: int = default("preprocess.min_counts_per_spot"),
    source: str = "",
    min_spots: dict | None = None,
    hvg_flavor: str = HVG_FLAVOR,
) -> ad.AnnData:
    """Filter, normalise, log-transform and keep the top HVGs, dense float32 in ``X``.

    ``source`` names the input file in error messages.  Raw counts stay in
    ``layers['counts']``; spots and coordinates are kept aligned.  ``min_spots``
    (``{"graph_k": k, "n_clusters": n}``, see
    :func:`senca_st.config_check.spots_needed`) makes a section with too few
    spots for its spot graph or its regions fail here, not after training.
    ``hvg_flavor``: scanpy's HVG flavour (one of :data:`HVG_FLAVORS`; ``preprocess.hvg_flavor``).
    """
    adata = adata.copy()
    n0, g0 = adata.shape
    sc.pp.filter_cells(adata, min_counts=min_counts_per_spot)
    sc.pp.filter_genes(adata, min_cells=min_spots_per_gene)
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise InputError(
            source or None,
            f"no {'spots' if adata.n_obs == 0 else 'genes'} left after filtering "
            f"(min_counts_per_spot={min_counts_per_spot}, min_spots_per_gene={min_spots_per_gene}; "
            f"had {n0} spots, {g0} genes)",
            "Lower preprocess.min_counts_per_spot / min_spots_per_gene or check the count matrix.",
        )
    LOG.info("kept %d of %d spots and %d of %d genes after filtering", adata.n_obs, n0, adata.n_vars, g0)
    check_enough_spots(adata, min_spots or {}, source, n0, min_counts_per_spot)
    adata = log_top_genes(adata, n_top_genes, hvg_flavor)
    LOG.info("kept the top %d highly variable genes (scanpy flavour %s)", adata.n_vars, hvg_flavor)
    return adata


def log_top_genes(adata: ad.AnnData, n_top_genes: int, flavor: str = HVG_FLAVOR) -> ad.AnnData:
    """Raw counts -> log1p of library-size-normalised counts of the top HVGs, dense float32 in ``X``.

    Raw counts stay in ``layers['counts']``.  One section and a group's sections
    pooled (:func:`senca_st.method.groups.combine_sections`) go through the same steps.
    ``flavor``: scanpy's HVG flavour (:data:`HVG_FLAVORS`); ``seurat_v3`` reads the raw counts.
    """
    if flavor not in HVG_FLAVORS:
        raise ValueError(f"unknown HVG flavour {flavor!r}; choose from {', '.join(HVG_FLAVORS)}")
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(
        adata,
        n_top_genes=min(n_top_genes, adata.n_vars),
        flavor=flavor,
        layer="counts" if flavor == "seurat_v3" else None,
    )
    adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    adata.X = dense(adata.X).astype(np.float32)
    return adata


def check_enough_spots(adata: ad.AnnData, needed: dict, source: str, n_before: int, min_counts_per_spot: int) -> None:
    """Refuse a section with fewer spots than its spot graph (k + 1) or its regions (n_clusters) need."""
    from senca_st.evaluation.metrics import n_regions

    n = adata.n_obs
    k = int(needed.get("graph_k", 0))
    regions = int(needed.get("n_clusters", 0))
    what = "regions"
    if not regions and "label" in adata.obs:
        regions, what = n_regions(adata.obs["label"]), "annotated regions"
    filtered = f" (of {n_before}; preprocess.min_counts_per_spot={min_counts_per_spot})" if n < n_before else ""
    if k and n < k + 1:
        raise InputError(
            source or None,
            f"only {n} spots remain after filtering{filtered}; the SENCA-st spot graph links each spot to its "
            f"{k} nearest, which needs at least {k + 1} spots",
            "Use a larger section, or lower train.k (or drop senca_k8/senca_k16 from methods) in the config.",
        )
    regions = max(regions, 2)  # clustering needs two regions at the least
    if n < regions:
        raise InputError(
            source or None,
            f"only {n} spots remain after filtering{filtered}; they cannot form {regions} {what}",
            "Lower n_clusters in the sample sheet (or cluster.default_n_clusters), or use a larger section.",
        )
