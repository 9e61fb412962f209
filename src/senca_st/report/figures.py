"""Region maps for the Snakemake report: a section's regions, a group's sections side by side.

Matplotlib is used through its object API with the Agg canvas (no pyplot, no
display), so figures render the same on a laptop, in CI and on a SLURM node.
Every figure is written through :func:`senca_st.report.canvas.save_figure`.  The
study's charts (ARI by method, per-rule runtimes) are :mod:`senca_st.report.study_figures`.

Region maps put the section's primary clusters and the pathologist's regions
side by side over the H&E thumbnail (a blank background where the section has
no image).  Clusters are coloured like the region they overlap most (one-to-one
Hungarian match), so a glance shows which regions a method found and which it
merged or split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from matplotlib.collections import EllipseCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from senca_st.errors import InputError
from senca_st.evaluation.markers import read_markers, top_markers
from senca_st.evaluation.matching import match_labels
from senca_st.evaluation.metrics import agreement, annotated
from senca_st.io.image_io import SectionImage
from senca_st.io.section_image import ImageSource
from senca_st.io.sections import UNDETERMINED
from senca_st.method.neighbourhood import spot_spacing
from senca_st.report.canvas import save_figure

LOG = logging.getLogger("senca_st")

# Distinct colours that stay readable over pink/purple H&E (Okabe-Ito first, then tab20-like).
PALETTE = [
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#F0E442",
    "#CC79A7",
    "#000000",
    "#8C564B",
    "#17BECF",
    "#BCBD22",
    "#7F7F7F",
    "#393B79",
    "#637939",
    "#8C6D31",
    "#843C39",
    "#7B4173",
    "#3182BD",
    "#E6550D",
    "#31A354",
]
UNDETERMINED_COLOUR = "#BDBDBD"
BLANK_BACKGROUND = "#F7F7F7"
THUMBNAIL_PX = 1400


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


# --------------------------------------------------------------------------- region maps


def match_clusters(labels: pd.Series | None, clusters: np.ndarray) -> dict:
    """Cluster -> region it is matched to one-to-one (Hungarian on annotated spots); unmatched clusters absent."""
    if labels is None:
        return {}
    mask = annotated(labels)
    if not mask.any():
        return {}
    matched = match_labels(np.asarray(clusters)[mask], labels.to_numpy()[mask].astype(str)).pairs()
    return {k: str(r) for k, r in matched.items()}


def _region_colours(labels: pd.Series | None) -> dict[str, str]:
    if labels is None:
        return {}
    regions = sorted(set(labels.astype(str)) - {UNDETERMINED, ""})
    colours = {r: _colour(i) for i, r in enumerate(regions)}
    colours[UNDETERMINED] = UNDETERMINED_COLOUR
    return colours


def _cluster_colours(clusters: np.ndarray, matched: dict, region_colours: dict[str, str]) -> dict:
    colours, used = {}, set()
    for k, region in matched.items():
        colours[k] = region_colours[region]
        used.add(region_colours[region])
    spare = (c for c in PALETTE[len(region_colours) :] + PALETTE if c not in used)
    for k in sorted(pd.unique(clusters), key=lambda v: (str(type(v)), v)):
        if k not in colours:
            colours[k] = next(spare, _colour(len(colours)))
    return colours


def _background(image: str | Path | ImageSource | None, xy: np.ndarray, pad: float, image_scale: float):
    """(RGB array or None, xy in figure units, crop extent, figure units per full-resolution pixel)."""
    x0, y0 = xy.min(axis=0) - pad
    x1, y1 = xy.max(axis=0) + pad
    if not image:
        return None, xy, (x0, x1, y1, y0), 1.0
    with SectionImage(image) as img:
        # Spots in full-resolution pixels; the image may be a scaled copy (Visium hires PNG).
        sxy = xy * image_scale
        bx0, by0 = max(0, int(x0 * image_scale)), max(0, int(y0 * image_scale))
        bx1, by1 = min(img.width, int(np.ceil(x1 * image_scale))), min(img.height, int(np.ceil(y1 * image_scale)))
        if bx1 <= bx0 or by1 <= by0:
            raise InputError(image, "no spot lies on the image", "Check that the image belongs to the section.")
        # Enough thumbnail resolution for the tissue crop, never more than ~4k px for the whole image.
        crop_side = max(bx1 - bx0, by1 - by0)
        max_side = int(min(4096, THUMBNAIL_PX * max(img.width, img.height) / crop_side))
        thumb, factor = img.thumbnail(max_side)
    t = (np.array([bx0, by0, bx1, by1]) * factor).round().astype(int)
    crop = thumb[t[1] : t[3], t[0] : t[2]]
    txy = sxy * factor - t[:2]
    return crop, txy, (-0.5, crop.shape[1] - 0.5, crop.shape[0] - 0.5, -0.5), image_scale * factor


def _draw_spots(ax, xy, colours, diameter, background, extent, alpha):
    if background is not None:
        ax.imshow(background, extent=extent, interpolation="antialiased")
    else:
        ax.set_facecolor(BLANK_BACKGROUND)
    ax.add_collection(
        EllipseCollection(
            widths=diameter,
            heights=diameter,
            angles=0,
            units="xy",
            offsets=xy,
            offset_transform=ax.transData,
            facecolors=colours,
            edgecolors="white",
            linewidths=0.4,
            alpha=alpha,
        )
    )
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])  # image rows grow downwards
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _legend(ax, entries: list[tuple[str, str]], title: str) -> None:
    handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=c, markeredgecolor="none") for _, c in entries]
    ax.legend(
        handles,
        [name for name, _ in entries],
        title=title,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=min(2, max(1, len(entries))),
        frameon=False,
        fontsize=8.5,
        title_fontsize=9,
        handletextpad=0.3,
        columnspacing=1.0,
    )


def _region_entries(
    cl: np.ndarray, colours: dict, matched: dict, markers: str | Path | None
) -> tuple[list[tuple[str, str]], bool]:
    """Legend entries ``id ≈ matched region (spots): top two markers`` per region, and whether markers named any."""
    sizes = pd.Series(cl).value_counts()
    genes = top_markers(read_markers(markers), 2) if markers else {}
    entries = []
    for k in sorted(colours, key=lambda v: (str(type(v)), v)):
        name = f"{k}" + (f" ≈ {matched[k]}" if k in matched else "") + f" ({sizes.get(k, 0)})"
        if genes.get(str(k)):
            name += ": " + ", ".join(genes[str(k)])
        entries.append((name, colours[k]))
    return entries, bool(genes)


def section_figure(
    spots: str | Path,
    clusters: str | Path,
    output: str | Path,
    sample: str,
    method: str,
    image: str | Path | ImageSource | None = None,
    image_scale: float = 1.0,
    markers: str | Path | None = None,
) -> Path:
    """Primary clusters and pathologist regions side by side over the H&E thumbnail.

    ``spots`` is the preprocessed section (``obsm['spatial']`` in full-resolution
    pixels, ``obs['label']`` when annotated); ``clusters`` the ``spot, cluster``
    table; ``image`` the H&E (None or '' draws the spots on a blank background);
    ``image_scale`` maps full-resolution pixels onto ``image``; ``markers`` (a
    ``region_markers.tsv`` of these clusters) names each cluster by its top two genes.
    """
    adata = ad.read_h5ad(spots, backed="r")
    obs = adata.obs
    xy_full = np.asarray(adata.obsm["spatial"], dtype=np.float64)
    table = pd.read_csv(clusters, sep="\t", dtype={"spot": str}).set_index("spot")
    missing = obs.index.difference(table.index)
    if len(missing):
        raise InputError(clusters, f"{len(missing)} spot(s) of {spots} have no cluster", "Rerun the cluster rule.")
    cl = table.loc[obs.index, "cluster"].to_numpy()
    labels = obs["label"].astype(str) if "label" in obs else None
    if labels is not None and not annotated(labels).any():
        labels = None

    pitch = spot_spacing(xy_full) if len(xy_full) > 1 else 1.0
    background, xy, extent, to_fig = _background(image or None, xy_full, 1.5 * pitch, image_scale)
    # Spots smaller than the pitch so the tissue shows between them; opaque enough to keep their colour.
    diameter = (0.62 if background is not None else 0.85) * pitch * to_fig
    alpha = 1.0

    region_colours = _region_colours(labels)
    matched = match_clusters(labels, cl)
    cluster_colours = _cluster_colours(cl, matched, region_colours)

    show_image = background is not None
    panels = int(show_image) + 1 + int(labels is not None)
    width, height = extent[1] - extent[0], abs(extent[2] - extent[3])
    aspect = height / width if width else 1.0
    panel_w = 4.6
    legend_rows = -(-max(len(set(cl)), len(region_colours)) // 2)
    fig = Figure(figsize=(panel_w * panels, panel_w * aspect + 0.9 + 0.2 * legend_rows), layout="constrained")
    axes = list(fig.subplots(1, panels, squeeze=False)[0])

    if show_image:
        ax = axes.pop(0)
        _draw_spots(ax, xy[:0], [], diameter, background, extent, alpha)
        ax.set_title("H&E", fontsize=11)

    ax = axes[0]
    _draw_spots(ax, xy, [cluster_colours[k] for k in cl], diameter, background, extent, alpha)
    title = f"{method}: {len(cluster_colours)} regions"
    if labels is not None:
        scores = agreement(labels, cl)
        title += f" (ARI {scores['ari']:.2f}, NMI {scores['nmi']:.2f})"
    ax.set_title(title, fontsize=11)
    entries, named = _region_entries(cl, cluster_colours, matched, markers)
    legend_title = "cluster ≈ matched region (spots)" if matched else "cluster (spots)"
    _legend(ax, entries, legend_title + (": top markers" if named else ""))

    if labels is not None:
        ax = axes[1]
        _draw_spots(ax, xy, [region_colours[v] for v in labels], diameter, background, extent, alpha)
        ax.set_title("pathologist's regions", fontsize=11)
        counts = labels.value_counts()
        entries = [(f"{r} ({counts.get(r, 0)})", c) for r, c in region_colours.items() if counts.get(r, 0)]
        _legend(ax, entries, "region (spots)")

    where = "over the H&E image" if background is not None else "no H&E image: spots on a blank background"
    fig.suptitle(f"Section {sample} — {where}", fontsize=12)
    save_figure(fig, output)
    LOG.info("%s: region map of %d spots (%s) -> %s", sample, len(cl), method, output)
    return Path(output)


def group_figure(
    spots: list[str],
    clusters: list[str],
    output: str | Path,
    group: str,
    method: str,
    sections: list[str],
    images: list[str | ImageSource | None],
    image_scales: list[float],
    markers: str | Path | None = None,
) -> Path:
    """A group's sections side by side, one colour per joint region in every section, over the H&E where there is one.

    ``spots``, ``clusters``, ``images`` and ``image_scales`` are per section, in
    ``sections`` order; ``clusters`` are the sections' parts of the group's
    regions (ids shared across the group).  Regions are matched to the labels
    of the labelled sections pooled, so a region keeps its colour (and the
    name of its matched annotation) in every panel; ``markers`` (the group's
    ``region_markers.tsv``) names each region by its top two genes.
    """
    parts = []
    for path, table_path in zip(spots, clusters, strict=True):
        adata = ad.read_h5ad(path, backed="r")
        table = pd.read_csv(table_path, sep="\t", dtype={"spot": str}).set_index("spot")
        missing = adata.obs.index.difference(table.index)
        if len(missing):
            raise InputError(table_path, f"{len(missing)} spot(s) of {path} have no cluster", "Rerun the group's jobs.")
        labels = adata.obs["label"].astype(str) if "label" in adata.obs else None
        parts.append((np.asarray(adata.obsm["spatial"], dtype=np.float64), table.loc[adata.obs.index, "cluster"].to_numpy(), labels))
    all_cl = np.concatenate([cl for _, cl, _ in parts])
    pooled = [lab for _, _, lab in parts if lab is not None]
    labels_all = pd.concat(pooled, ignore_index=True) if pooled else None
    with_labels = np.concatenate([np.full(len(cl), lab is not None) for _, cl, lab in parts])
    matched = match_clusters(labels_all, all_cl[with_labels]) if labels_all is not None else {}
    region_colours = _region_colours(labels_all)
    colours = _cluster_colours(all_cl, matched, region_colours)

    panel_w = 4.2
    spans = [np.ptp(xy, axis=0) for xy, _, _ in parts]
    aspect = max(float(h / w) if w else 1.0 for w, h in spans)
    fig = Figure(figsize=(panel_w * len(parts), panel_w * aspect + 0.5 + 0.2 * -(-len(colours) // 2)), layout="constrained")
    axes = fig.subplots(1, len(parts), squeeze=False)[0]
    for ax, name, (xy_full, cl, labels), image, scale in zip(axes, sections, parts, images, image_scales, strict=True):
        pitch = spot_spacing(xy_full) if len(xy_full) > 1 else 1.0
        background, xy, extent, to_fig = _background(image or None, xy_full, 1.5 * pitch, scale)
        diameter = (0.62 if background is not None else 0.85) * pitch * to_fig
        _draw_spots(ax, xy, [colours[k] for k in cl], diameter, background, extent, 1.0)
        title = f"{name}: {len(np.unique(cl))} regions"
        if labels is not None and annotated(labels).any():
            title += f" (ARI {agreement(labels, cl)['ari']:.2f})"
        ax.set_title(title, fontsize=10)
    entries, named = _region_entries(all_cl, colours, matched, markers)
    legend_title = "region ≈ matched annotation (spots in the group)" if matched else "region (spots in the group)"
    _legend(axes[0], entries, legend_title + (": top markers" if named else ""))
    fig.suptitle(f"Group {group} — {method}: one set of regions across {len(parts)} sections", fontsize=12)
    save_figure(fig, output)
    LOG.info("group %s: region maps of %d sections (%s) -> %s", group, len(parts), method, output)
    return Path(output)
