"""Sections of one patient (or one brain) analysed together: one set of regions across a group.

A group's sections become one AnnData in which each section keeps its own spot
graph: positions are laid side by side with a gap wider than any section, so
the k-nearest-spot graph and the contrastive windows never join two sections,
and one model trains on all of them as it would on one large section.

Serial sections differ in depth and handling.  Library size is normalised per
spot as for a single section; what remains is a shift of each gene's level per
section, and of its spread (a shallower section's log counts are compressed),
which on their own would make every section its own region.  Each section's
expression is therefore standardised gene by gene, on its own mean and
standard deviation, before the model reads it: the location and scale
adjustment of ComBat without its pooling across genes.  On HER2ST A-D this
lifted the joint ARI from 0.250 to 0.285 (seeds 0-4, one mixture on all
spots; centring alone kept the spread) and left DLPFC as it was, 0.497 to
0.499 (README, "Groups").  It assumes what serial sections of one tissue
satisfy: similar composition.
``mixing_score`` and ``regions_by_sections`` show, per group, whether the joint
embedding still splits by section.

Regions (:func:`matched_regions`): each section's spots are partitioned on
their own in the shared embedding, and the partitions are matched one to one
to the group's regions, whose centres come from all sections together.  One
mixture fitted on all of a group's spots at once places a section's
boundaries where the pooled sections' density puts them: on HER2ST A-D it
scored 0.285 on the labelled sections against 0.368 matched (seeds 0-4; the
sections alone 0.339), DLPFC 0.499 against 0.495 (README, "Groups").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.defaults import default
from senca_st.errors import InputError
from senca_st.evaluation.matching import assign
from senca_st.method.clustering import cluster_spots, dense_ids, leading_components, region_means
from senca_st.method.scaling import standardised

LOG = logging.getLogger("senca_st")

#: Separates section and spot in a group's spot ids (``A1:10x12``).
SPOT_SEP = ":"

#: How a group's spots become regions: ``matched`` (each section partitioned alone, the
#: partitions matched across sections; the default) or ``pooled`` (one mixture on all spots).
REGION_RULES = ("matched", "pooled")

#: Most rounds of matching sections' regions to the group's centres (on HER2ST A-D and DLPFC it settled within four).
MATCH_ROUNDS = 20

#: A region "occurs" in a section when it holds at least this share of the section's spots
#: (and at least MIN_SPOTS spots): a handful of stray spots is not a region found there.
MIN_SHARE = 0.01
MIN_SPOTS = 3


def group_spot_id(section: str, spot: str) -> str:
    return f"{section}{SPOT_SEP}{spot}"


def side_by_side(coords: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each section's positions shifted along x so that sections sit apart.

    The gap is twice the widest section's extent, so a spot's nearest spots
    (and its contrastive window, a grid cell far smaller than a section) are
    always in its own section.
    """
    spans = [np.ptp(np.asarray(c, dtype=np.float64), axis=0).max() for c in coords.values()]
    gap = 2.0 * (max(spans) if spans else 1.0) + 1.0
    out: dict[str, np.ndarray] = {}
    x0 = 0.0
    for name, c in coords.items():
        c = np.asarray(c, dtype=np.float64)
        shifted = c - c.min(axis=0)
        shifted[:, 0] += x0
        out[name] = shifted
        x0 += np.ptp(c[:, 0]) + gap
    return out


def combine_sections(
    sections: Mapping[str, ad.AnnData],
    keep: Mapping[str, pd.Index] | None = None,
    n_top_genes: int = default("preprocess.n_top_genes"),
    min_spots_per_gene: int = default("preprocess.min_spots_per_gene"),
    sources: Mapping[str, str] | None = None,
    hvg_flavor: str = default("preprocess.hvg_flavor"),
) -> ad.AnnData:
    """The group's preprocessed AnnData: shared genes, log expression standardised per section, sections apart.

    ``sections``: each section's contract AnnData (raw counts, ``obsm['spatial']``,
    optional ``obs['label']``), in the group's order.  ``keep``: the spots each
    section's own preprocessing kept (so a section's joint and single-section
    results cover the same spots).  Genes: those measured in every section; the
    HVGs are chosen on the sections pooled (ranking them per section with
    scanpy's ``batch_key`` lost HER2ST A1 0.35 ARI: it favours genes variable
    everywhere over the genes that mark one section's regions), by scanpy's ``hvg_flavor``.  ``obs``: ``section``, ``spot`` (the section's own id)
    and ``label`` where the section has labels; ``obsm['spatial']`` the side-by-side
    positions, ``obsm['spatial_section']`` each spot's position in its section.
    """
    import scanpy as sc

    from senca_st.method.preprocess import log_top_genes

    if len(sections) < 2:
        raise InputError(None, f"a group needs at least two sections, got {len(sections)}")
    sources = sources or {}
    parts = []
    shared = None
    for name, a in sections.items():
        if keep is not None:
            missing = pd.Index(keep[name]).difference(a.obs_names)
            if len(missing):
                raise InputError(sources.get(name) or None, f"{len(missing)} preprocessed spot(s) not in the section's spots")
            a = a[pd.Index(keep[name])]
        genes = pd.Index(a.var_names)
        shared = genes if shared is None else shared.intersection(genes, sort=False)
        parts.append((name, a))
    if shared is None or len(shared) == 0:
        raise InputError(
            None,
            f"sections {', '.join(sections)} have no gene in common",
            "A group's sections must be measured on the same genes (same species and gene naming).",
        )
    for name, a in parts:
        if a.n_vars > 2 * len(shared):
            LOG.warning("%s: only %d of its %d genes are measured in every section of the group", name, len(shared), a.n_vars)
    coords = side_by_side({name: np.asarray(a.obsm["spatial"]) for name, a in parts})
    blocks = []
    for name, a in parts:
        b = ad.AnnData(X=a[:, shared].X.copy(), obs=pd.DataFrame(index=[group_spot_id(name, s) for s in a.obs_names]))
        b.var_names = shared
        b.obs["section"] = name
        b.obs["spot"] = a.obs_names.astype(str).to_numpy()
        # every block has the column (missing: unlabelled), so concatenation keeps it
        b.obs["label"] = a.obs["label"].astype(object).to_numpy() if "label" in a.obs else None
        b.obsm["spatial"] = coords[name]
        b.obsm["spatial_section"] = np.asarray(a.obsm["spatial"], dtype=np.float64)
        blocks.append(b)
    joint = ad.concat(blocks, join="inner", merge="same")
    joint.obs["section"] = pd.Categorical(joint.obs["section"], categories=list(sections))
    if joint.obs["label"].isna().all():
        del joint.obs["label"]
    sc.pp.filter_genes(joint, min_cells=min_spots_per_gene)
    joint = log_top_genes(joint, n_top_genes, hvg_flavor)
    section = joint.obs["section"].to_numpy()
    for name in sections:
        rows = section == name
        joint.X[rows] = standardised(joint.X[rows])
    joint.uns["group_sections"] = list(sections)
    LOG.info("group of %s: %d spots, %d shared genes, top %d HVGs across sections", ", ".join(sections), joint.n_obs, len(shared), joint.n_vars)
    return joint


def split_by_section(spots: pd.Index) -> pd.DataFrame:
    """A group's spot ids -> columns ``section`` and ``spot``."""
    parts = pd.Index(spots).str.split(SPOT_SEP, n=1, expand=True)
    return pd.DataFrame({"section": parts.get_level_values(0), "spot": parts.get_level_values(1)})


def region_presence(clusters: np.ndarray, section: np.ndarray) -> pd.DataFrame:
    """Spots of each region (rows) in each section (columns)."""
    return pd.crosstab(pd.Series(clusters, name="region"), pd.Series(section, name="section"))


def regions_by_sections(clusters: np.ndarray, section: np.ndarray) -> dict[int, list[str]]:
    """For each region, the sections in which it occurs (``MIN_SHARE`` of the section's spots, ``MIN_SPOTS`` at least)."""
    table = region_presence(clusters, section)
    sizes = table.sum(axis=0)
    need = np.maximum(MIN_SPOTS, np.ceil(MIN_SHARE * sizes))
    return {int(r): [str(s) for s in table.columns if table.loc[r, s] >= need[s]] for r in table.index}


def mixing_score(embedding: np.ndarray, section: np.ndarray, k: int = 10) -> float:
    """How well sections mix in the embedding: 1 as if sections were shuffled, 0 fully apart.

    For each spot, the share of its ``k`` nearest spots in the embedding that
    come from other sections, divided by the share expected if section did
    not matter (``(n - n_s) / (n - 1)``); the mean over spots, capped at 1.
    """
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(embedding, dtype=np.float64)
    section = np.asarray(section)
    n = len(section)
    k = min(k, n - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    other = (section[idx[:, 1:]] != section[:, None]).mean(axis=1)
    _, inverse, counts = np.unique(section, return_inverse=True, return_counts=True)
    expected = (n - counts[inverse]) / (n - 1)
    return float(np.minimum(other / expected, 1.0).mean())


def matched_regions(
    embedding: np.ndarray,
    section: np.ndarray,
    n_clusters: int,
    method: str = "gmm",
    n_components: int = 10,
    seed: int = 0,
    source: str = "",
) -> np.ndarray:
    """One region id per spot, shared across a group's sections.

    1. Each section's spots are clustered alone (``method`` as for a single
       section) in the group's shared embedding: its boundaries follow its own
       spots' density, as they would if it were analysed alone.
    2. The group's region centres start from one mixture on all spots; each
       section's regions are assigned one to one to the centres, at least total
       squared distance (Hungarian), in the group's top ``n_components``
       principal components; each centre moves to the size-weighted mean of the
       regions assigned to it; repeated until no assignment changes.

    Matching one to one at least total squared distance is blind to a shift
    of a whole section in the embedding (each centre is used once, so the
    shift adds the same amount to every complete assignment): what is left of
    a section's depth or handling moves its regions together and does not
    change which is which.  A section never gets two regions with one id
    (unless the group's mixture leaves a region empty: then a section's
    regions beyond the centres' number join the nearest).  A region present in
    one section only is still assigned to the nearest centre
    left; ``regions_by_sections`` then shows where each region holds spots.
    """
    X = np.asarray(embedding, dtype=np.float64)
    section = np.asarray(section)
    names = list(dict.fromkeys(section.tolist()))
    P = leading_components(X, n_components, seed)
    centres, _ = region_means(P, cluster_spots(X, n_clusters, source, method, n_components, seed))
    own: dict[str, np.ndarray] = {}
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        rows = section == name
        # preprocessing has refused a section with fewer spots than regions (spots_needed)
        own[name] = cluster_spots(X[rows], n_clusters, source, method, n_components, seed)
        parts[name] = region_means(P[rows], own[name])
    assigned: dict[str, np.ndarray] = {}
    for _ in range(MATCH_ROUNDS):
        new = {}
        for name, (means, _sizes) in parts.items():
            cost = ((means[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            rows, cols = assign(-cost)  # least total squared distance
            target = np.argmin(cost, axis=1)  # regions beyond the centres' number: the nearest
            target[rows] = cols
            new[name] = target
        if assigned and all(np.array_equal(new[n], assigned[n]) for n in names):
            break
        assigned = new
        total = np.zeros_like(centres)
        weight = np.zeros(len(centres))
        for name, (means, sizes) in parts.items():
            np.add.at(total, assigned[name], sizes[:, None] * means)
            np.add.at(weight, assigned[name], sizes)
        held = weight > 0
        centres[held] = total[held] / weight[held, None]
    out = np.empty(len(section), dtype=np.int64)
    for name in names:
        out[section == name] = assigned[name][own[name]]
    return dense_ids(out)
