"""The report's dot plot of each region's marker genes.

scanpy's ``dotplot`` is what its users read markers from (dot size: share of
the region's spots expressing the gene; colour: mean expression, scaled per
gene), so the report draws that one rather than a figure of its own.  Genes are
the top ``PER_REGION`` of each region in ``region_markers.tsv``, in the
regions' order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import matplotlib

matplotlib.use("Agg")  # before scanpy's pyplot: no display on SLURM nodes or in CI

import scanpy as sc  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from senca_st.evaluation.markers import read_markers, top_markers  # noqa: E402
from senca_st.io.atomic import atomic_path  # noqa: E402
from senca_st.report.canvas import save_figure  # noqa: E402

LOG = logging.getLogger("senca_st")

#: Marker genes drawn per region.
PER_REGION = 3


def marker_figure(section: str | Path, markers: str | Path, output: str | Path, title: str) -> Path:
    """Dot plot of the top markers of every region of ``section.h5ad``'s ``obs['region']``."""
    adata = ad.read_h5ad(section)
    table = read_markers(markers)
    chosen = top_markers(table, PER_REGION)
    if not chosen:  # no region could be tested: say so in the report rather than leave a gap
        fig = Figure(figsize=(6, 1.5))
        fig.text(0.5, 0.5, f"{title}: no region has markers (every region has fewer than 2 spots)", ha="center")
        save_figure(fig, output)
    else:
        genes: dict[str, list[str]] = {}
        seen: set[str] = set()
        for region in adata.obs["region"].cat.categories:  # a gene marking two regions is drawn under the first
            new = [g for g in chosen.get(region, []) if g in adata.var_names and g not in seen]
            seen.update(new)
            if new:
                genes[region] = new
        plot = sc.pl.dotplot(
            adata, genes, groupby="region", layer="lognorm", standard_scale="var",
            title=title, return_fig=True, show=False,
        )
        with atomic_path(output) as tmp:
            plot.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close("all")
    LOG.info("marker dot plot (%d regions) -> %s", len(chosen), output)
    return Path(output)
