"""The pipeline steps of a group of sections (sections sharing a sheet ``group``): what their rule scripts call.

As :mod:`senca_st.steps`, for the group rules: pooling the sections' spots and
features, a section's part of the group's regions, and the group's metrics
(the method itself is :mod:`senca_st.method.groups`).
"""

from __future__ import annotations

import logging

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.errors import InputError
from senca_st.evaluation import metrics as evaluation
from senca_st.io.store import write_h5ad, write_tsv
from senca_st.steps import read_clusters

LOG = logging.getLogger("senca_st")


def group_preprocess_step(
    spots: list[str],
    preprocessed: list[str],
    sections: list[str],
    output: str,
    n_top_genes: int,
    min_spots_per_gene: int,
    hvg_flavor: str,
) -> None:
    """Rule ``group_preprocess``: a group's sections -> one preprocessed AnnData (see :func:`groups.combine_sections`).

    Each section keeps the spots its own preprocessing kept, so its joint and
    single-section regions cover the same spots.
    """
    from senca_st.method.groups import combine_sections

    raw, keep, sources = {}, {}, {}
    for name, spots_path, pre_path in zip(sections, spots, preprocessed, strict=True):
        raw[name] = ad.read_h5ad(spots_path)
        keep[name] = ad.read_h5ad(pre_path, backed="r").obs_names.copy()
        sources[name] = str(raw[name].uns.get("section", {}).get("counts", "") or spots_path)
    joint = combine_sections(
        raw, keep, n_top_genes=n_top_genes, min_spots_per_gene=min_spots_per_gene, sources=sources, hvg_flavor=hvg_flavor
    )
    write_h5ad(joint, output)


def group_features_step(features: list[str], preprocessed: list[str], output: str) -> None:
    """Rule ``group_features``: the sections' image features stacked in the group's spot order."""
    from senca_st.io.store import read_image_features, write_npy

    blocks = [
        read_image_features(feats_path, ad.read_h5ad(pre_path, backed="r").n_obs, pre_path)
        for feats_path, pre_path in zip(features, preprocessed, strict=True)
    ]
    write_npy(np.vstack(blocks), output)


def section_part_step(source: str, output: str, section: str) -> None:
    """Rule ``joint_section``: one section's rows of a group's ``clusters.tsv`` or ``embedding.h5ad``, under its own spot ids."""
    from senca_st.method.groups import SPOT_SEP

    prefix = f"{section}{SPOT_SEP}"
    if source.endswith(".tsv"):
        table = pd.read_csv(source, sep="\t", dtype={"spot": str})
        part = table[table["spot"].str.startswith(prefix)].copy()
        part["spot"] = part["spot"].str.slice(len(prefix))
        if part.empty:
            raise InputError(source, f"has no spot of section {section}", "Rerun the group's jobs.")
        write_tsv(part, output)
        return
    emb = ad.read_h5ad(source)
    rows = emb.obs_names.str.startswith(prefix)
    if not rows.any():
        raise InputError(source, f"has no spot of section {section}", "Rerun the group's jobs.")
    part = emb[rows].copy()
    part.obs_names = part.obs_names.str.slice(len(prefix))
    write_h5ad(part, output)


def group_metrics_step(preprocessed: str, embedding: str, clusters: str, output: str, group: str, method: str) -> pd.DataFrame:
    """Rule ``group_metrics``: does a group's joint embedding split by section, and do its regions recur?

    One row: sections, regions found, how many occur in two sections or more
    (and which occur in one section only, ``region:section``), the mixing score
    (:func:`groups.mixing_score`) and, where sections are labelled, the ARI of
    the joint regions over their spots pooled.
    """
    from senca_st.method.groups import mixing_score, regions_by_sections

    obs = ad.read_h5ad(preprocessed, backed="r").obs
    emb = ad.read_h5ad(embedding)
    X = emb[obs.index].obsm[emb.uns["embedding_key"]]
    cl = read_clusters(clusters, obs.index)
    section = obs["section"].astype(str).to_numpy()
    where = regions_by_sections(cl, section)
    single = [f"{r}:{secs[0]}" for r, secs in sorted(where.items()) if len(secs) == 1]
    pooled = np.nan
    if "label" in obs and evaluation.annotated(obs["label"].astype(str)).any():
        pooled = evaluation.agreement(obs["label"].astype(str), cl)["ari"]
    row = pd.DataFrame(
        [
            {
                "group": group,
                "method": method,
                "sections": ",".join(dict.fromkeys(section)),
                "n_spots": len(cl),
                "n_regions": len(where),
                "regions_shared": sum(len(s) >= 2 for s in where.values()),
                "regions_one_section": ",".join(single),
                "mixing": mixing_score(X, section),
                "ari_pooled": pooled,
            }
        ]
    )
    LOG.info(
        "group %s %s: %d of %d regions in two sections or more%s; mixing %.3f; pooled ARI %s",
        group, method, row["regions_shared"].iloc[0], len(where),
        f" (one section only: {', '.join(single)})" if single else "", row["mixing"].iloc[0],
        "n/a" if np.isnan(pooled) else f"{pooled:.4f}",
    )
    write_tsv(row, output)
    return row
