"""The genes that mark each region: what turns "cluster 3" into a region a pathologist can name.

Each region's spots are tested against all other spots with scanpy's
``rank_genes_groups`` (Wilcoxon rank-sum, Benjamini-Hochberg adjusted) on the
log-normalised expression of every gene (``layers['lognorm']`` of
``section.h5ad``), as scanpy users would do by hand.  The table keeps the top
``N_GENES`` genes of each region with the share of spots expressing each gene
inside and outside the region, so a marker present everywhere but a little
higher in one region is told apart from one specific to it.

A region of one spot cannot be tested (no spread within it); it is left out
of the table with a log line.  For a group, the sections' spots are pooled
under their shared region ids (genes measured in every section).
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.errors import InputError
from senca_st.io.store import write_tsv

LOG = logging.getLogger("senca_st")

#: Genes kept per region in region_markers.tsv.
N_GENES = 50

COLUMNS = ["region", "rank", "gene", "score", "logfoldchange", "pval_adj", "frac_in", "frac_out"]


def rank_region_markers(adata: ad.AnnData, groupby: str = "region", n_genes: int = N_GENES) -> pd.DataFrame:
    """Top ``n_genes`` markers of each ``groupby`` region (columns ``COLUMNS``), best first within a region."""
    import scanpy as sc  # here, not at import: the report's figures read marker tables without scanpy

    if groupby not in adata.obs:
        raise ValueError(f"obs has no column {groupby!r}")
    layer = "lognorm" if "lognorm" in adata.layers else None
    regions = adata.obs[groupby].astype(str)
    sizes = regions.value_counts()
    testable = sizes.index[sizes >= 2].tolist()
    skipped = sorted(set(sizes.index) - set(testable))
    if skipped:
        LOG.info("regions %s have fewer than 2 spots: no markers for them", ", ".join(skipped))
    if len(testable) < 2:
        LOG.info("fewer than two regions with 2 spots or more: no markers")
        return pd.DataFrame(columns=COLUMNS)
    work = ad.AnnData(
        X=adata.layers[layer] if layer else adata.X,
        obs=pd.DataFrame({"region": pd.Categorical(regions)}, index=adata.obs_names),
        var=pd.DataFrame(index=adata.var_names),
    )
    work = work[work.obs["region"].isin(testable).to_numpy()].copy()
    work.obs["region"] = work.obs["region"].cat.remove_unused_categories()
    n = min(n_genes, work.n_vars)
    sc.tl.rank_genes_groups(work, "region", method="wilcoxon", pts=True, n_genes=n, use_raw=False)
    result = work.uns["rank_genes_groups"]
    pts, pts_rest = result["pts"], result["pts_rest"]
    frames = []
    for region in work.obs["region"].cat.categories:
        genes = np.asarray(result["names"][region]).astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "region": region,
                    "rank": np.arange(1, len(genes) + 1),
                    "gene": genes,
                    "score": np.asarray(result["scores"][region], dtype=np.float64),
                    "logfoldchange": np.asarray(result["logfoldchanges"][region], dtype=np.float64),
                    "pval_adj": np.asarray(result["pvals_adj"][region], dtype=np.float64),
                    "frac_in": pts.loc[genes, region].to_numpy(dtype=np.float64),
                    "frac_out": pts_rest.loc[genes, region].to_numpy(dtype=np.float64),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def top_markers(markers: pd.DataFrame, n: int = 2) -> dict[str, list[str]]:
    """Region -> its ``n`` best marker genes (by rank)."""
    if markers.empty:
        return {}
    best = markers.sort_values(["region", "rank"]).groupby("region", sort=False).head(n)
    return {str(r): g["gene"].astype(str).tolist() for r, g in best.groupby("region", sort=False)}


def read_markers(path: str | Path) -> pd.DataFrame:
    """A ``region_markers.tsv`` (regions read as strings, the ids of ``section.h5ad``'s region columns)."""
    table = pd.read_csv(path, sep="\t", dtype={"region": str, "gene": str})
    absent = [c for c in COLUMNS if c not in table.columns]
    if absent:
        raise InputError(path, f"lacks column(s) {', '.join(absent)}", "Rerun the region_markers rule.")
    return table


def section_markers_step(section: str, output: str, groupby: str = "region") -> pd.DataFrame:
    """Rule ``region_markers``: section.h5ad -> region_markers.tsv for its primary regions."""
    table = rank_region_markers(ad.read_h5ad(section), groupby)
    write_tsv(table, output)
    return table


def group_markers_step(sections: list[str], names: list[str], output: str, groupby: str) -> pd.DataFrame:
    """Rule ``group_markers``: the group's sections' spots pooled under their shared regions (``groupby``)."""
    parts = []
    for path, name in zip(sections, names):
        a = ad.read_h5ad(path)
        if groupby not in a.obs:
            raise InputError(path, f"has no obs column {groupby!r}", "Rerun section_anndata for this section.")
        part = ad.AnnData(
            X=a.layers["lognorm"],
            obs=pd.DataFrame({"region": a.obs[groupby].astype(str).to_numpy()}, index=[f"{name}:{s}" for s in a.obs_names]),
            var=pd.DataFrame(index=a.var_names),
        )
        parts.append(part)
    pooled = ad.concat(parts, join="inner")
    LOG.info("group markers: %d spots of %d sections, %d genes in all of them", pooled.n_obs, len(parts), pooled.n_vars)
    table = rank_region_markers(pooled, "region")
    write_tsv(table, output)
    return table
