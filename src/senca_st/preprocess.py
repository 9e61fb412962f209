"""Expression preprocessing: normalise, log1p, keep the most variable genes.

SENCA-st feeds the top 500 highly variable genes to its graph transformer;
normalising library size first stops sequencing depth from masquerading as a
spatial domain.
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import scanpy as sc

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")


def preprocess_section(
    adata: ad.AnnData,
    n_top_genes: int = 500,
    min_spots_per_gene: int = 3,
    min_counts_per_spot: int = 10,
    source: str = "",
) -> ad.AnnData:
    """Filter, normalise, log-transform and keep the top HVGs, dense float32 in ``X``.

    ``source`` names the input file in error messages.  Raw counts stay in
    ``layers['counts']``; spots and coordinates are kept aligned.
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
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    n_top = min(n_top_genes, adata.n_vars)
    sc.pp.highly_variable_genes(adata, n_top_genes=n_top, flavor="seurat")
    adata = adata[:, adata.var["highly_variable"].to_numpy()].copy()
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    adata.X = X.astype(np.float32)
    LOG.info("kept the top %d highly variable genes", adata.n_vars)
    return adata
