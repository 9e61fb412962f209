"""One function per pipeline step: what a rule script calls.

Scripts in ``workflow/scripts`` only unpack ``snakemake.input/output/params``
and call one of these, so every step can be run and tested without Snakemake.
The steps that serve a group of sections are :mod:`senca_st.group_steps`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from senca_st.defaults import default
from senca_st.errors import InputError
from senca_st.evaluation import metrics as evaluation
from senca_st.io import sections
from senca_st.io.store import write_h5ad, write_tsv
from senca_st.method import baselines, clustering, catalogue as methods
from senca_st.samplesheet import AUTO

LOG = logging.getLogger("senca_st")


def load_section(
    dataset: str,
    output: str,
    counts: str = "",
    spots: str = "",
    labels: str = "",
    visium_dir: str = "",
    sample: str = "",
    h5ad: str = "",
    label_key: str = "",
) -> ad.AnnData:
    """Read a section in its dataset's layout and write the contract's ``spots.h5ad``.

    ``h5ad`` and ``label_key`` are the AnnData file and its ``obs`` column of
    regions (dataset ``h5ad``); ``labels`` works for every dataset.
    """
    if labels and not Path(labels).exists():
        # Snakemake never gets here (a missing labels file is a note at the sample sheet);
        # called directly, the section is still read and clustered.
        LOG.warning("%s: labels file not found; the section is clustered but not evaluated", labels)
        labels = ""
    if dataset == "visium":
        adata = sections.read_visium_section(visium_dir, labels or None)
        source = str(Path(visium_dir) / "filtered_feature_bc_matrix.h5")
    elif dataset == "h5ad":
        adata = sections.read_h5ad_section(h5ad, label_key or None, labels or None)
        source = str(h5ad)
    else:
        adata = sections.read_st_section(counts, spots, labels or None)
        source = str(counts)
    if not labels and not label_key:
        LOG.warning("%s: no pathologist labels; the section is clustered but not evaluated", sample or output)
    adata.uns["section"] = {"sample": sample, "dataset": dataset, "counts": source}
    LOG.info("%s: %d spots under tissue, %d genes", sample or output, adata.n_obs, adata.n_vars)
    write_h5ad(adata, output)
    return adata


def preprocess_step(spots: str, output: str, **settings) -> None:
    from senca_st.method.preprocess import preprocess_section  # scanpy only where needed

    adata = ad.read_h5ad(spots)
    # Messages name the user's count matrix, not our intermediate file.
    source = str(adata.uns.get("section", {}).get("counts", "") or spots)
    write_h5ad(preprocess_section(adata, source=source, **settings), output)


def image_features_step(
    spots: str,
    image: str,
    output: str,
    metadata: str,
    patch_px: int,
    degree: int,
    image_spec: dict[str, str],
    encoder: str,
    weights: str = "",
    batch_size: int = 32,
    device: str = "auto",
    threads: int | None = None,
) -> None:
    """Rule ``image_features``: a patch per preprocessed spot, cut in batches and encoded as it is cut.

    ``image_spec`` says where the image and its scale come from
    (:func:`senca_st.io.section_image.resolve_image`); ``metadata`` records the
    encoder, its weights and the image, next to the features.
    """
    import torch

    from senca_st.io.section_image import resolve_image
    from senca_st.io.store import write_json, write_npy
    from senca_st.method.encoders import load_encoder
    from senca_st.method.features import extract_features
    from senca_st.method.patches import iter_patches

    if threads:
        torch.set_num_threads(int(threads))
    adata = ad.read_h5ad(spots, backed="r")
    coords = np.asarray(adata.obsm["spatial"])
    source = resolve_image(image, **image_spec)
    if source is None:
        raise InputError(None, "rule image_features ran for a section without an image")
    enc = load_encoder(encoder, weights)
    LOG.info("image %s", source.describe())
    # a few encoder batches of patches at a time
    patches = iter_patches(source, coords, patch_px=patch_px, degree=degree, image_scale=source.scale, batch_size=8 * batch_size)
    feats = extract_features(patches, enc, batch_size=batch_size, device=device)
    write_npy(feats, output)
    write_json({**enc.metadata(), "image": source.describe(), "spots": int(coords.shape[0])}, metadata)


def _embedding_adata(obs_names: pd.Index, name: str, embedding: np.ndarray, seconds: float) -> ad.AnnData:
    out = ad.AnnData(obs=pd.DataFrame(index=obs_names))
    key = methods.embedding_key(name)
    out.obsm[key] = np.asarray(embedding, dtype=np.float32)
    out.uns["embedding_key"] = key
    out.uns["method"] = name
    out.uns["seconds"] = float(seconds)
    return out


def baseline_step(preprocessed: str, features: str, output: str, method: str, n_components: int, seed: int = 0) -> None:
    """A baseline's embedding; run once, with PCA's ``seed`` fixed (see :func:`senca_st.method.catalogue.seeded`)."""
    t0 = time.perf_counter()
    adata = ad.read_h5ad(preprocessed)
    feats = np.load(features) if features else None
    emb = baselines.baseline_embedding(method, adata.X, feats, n_components, seed)
    write_h5ad(_embedding_adata(adata.obs_names, method, emb, time.perf_counter() - t0), output)


def resolve_n_clusters(requested: int | str, labels: pd.Series | None, default: int | str) -> int | str:
    """The sheet's value, else the number of annotated regions, else the configured default.

    ``"auto"`` (from the sheet or the default) is returned as is: the cluster
    step then chooses the number from the embedding.
    """
    if requested:
        return requested if requested == AUTO else int(requested)
    if labels is not None:
        n = evaluation.n_regions(labels)
        if n >= 2:
            return n
    return default if default == AUTO else int(default)


def cluster_step(
    embedding: str,
    spots: str,
    output: str,
    n_clusters: int | str,
    default_n_clusters: int | str,
    method: str = "gmm",
    pcs: int = 10,
    seed: int = 0,
    group_regions: str = "matched",
    refine: int | str = default("cluster.refine"),
) -> None:
    """Rule ``cluster``: one run's embedding -> ``spot, cluster`` (see :mod:`senca_st.method.clustering`).

    A group's embedding (its spots carry ``obs['section']``) gets regions by
    ``group_regions`` (:data:`senca_st.method.groups.REGION_RULES`).  ``refine``
    (``cluster.refine``) then cleans each section's regions by the spots' neighbours
    (:func:`~senca_st.method.clustering.refine_labels`; ``spots`` gives the positions).
    """
    from senca_st.method.groups import REGION_RULES, matched_regions

    if group_regions not in REGION_RULES:
        raise ValueError(f"unknown groups.regions {group_regions!r}; choose from {', '.join(REGION_RULES)}")
    emb = ad.read_h5ad(embedding)
    spot_data = ad.read_h5ad(spots, backed="r")
    obs = spot_data.obs
    labels = obs["label"] if "label" in obs else None
    k = resolve_n_clusters(n_clusters, labels, default_n_clusters)
    X = emb.obsm[emb.uns["embedding_key"]]
    if k == AUTO:
        choice = clustering.choose_n_clusters(X, n_components=pcs, seed=seed)
        LOG.info("n_clusters auto: %s", choice.describe())
        k = choice.n_clusters
    section = obs["section"].astype(str).reindex(emb.obs_names).to_numpy() if "section" in obs else None
    if section is not None and group_regions == "matched":
        clusters = matched_regions(X, section, k, method=method, n_components=pcs, seed=seed, source=embedding)
        LOG.info("%d spots in %d regions (%s), each section's regions matched across the group", len(clusters), k, method)
    else:
        clusters = clustering.cluster_spots(X, k, source=embedding, method=method, n_components=pcs, seed=seed)
        LOG.info("%d spots in %d regions (%s)", len(clusters), k, method)
    if refine != 0:
        if "spatial" not in spot_data.obsm:
            raise InputError(spots, "has no obsm['spatial'] to refine the regions by", "Set cluster.refine: 0.")
        rows = obs.index.get_indexer(emb.obs_names)
        if (rows < 0).any():
            raise InputError(embedding, f"{int((rows < 0).sum())} spot(s) are not in {spots}", "Rerun the train rule.")
        coords = np.asarray(spot_data.obsm["spatial"], dtype=np.float64)[rows]
        before = clusters
        clusters = clustering.refine_labels(clusters, coords, refine, section)
        how = (
            "each spot alone in its region among its first ring took its neighbours' region"
            if refine == clustering.ISOLATED
            else f"each spot took the commonest region among its {refine} nearest spots of its section"
        )
        LOG.info("refined (cluster.refine: %s): %s; %d spot(s) changed", refine, how, int((clusters != before).sum()))
    write_tsv(pd.DataFrame({"spot": emb.obs_names, "cluster": clusters}), output)


def read_clusters(path: str, spots: pd.Index) -> np.ndarray:
    table = pd.read_csv(path, sep="\t", dtype={"spot": str}).set_index("spot")
    missing = spots.difference(table.index)
    if len(missing):
        raise InputError(path, f"{len(missing)} spot(s) have no cluster", "Rerun the cluster rule.")
    return table.loc[spots, "cluster"].to_numpy()


def evaluate_step(
    spots: str,
    embedding: str,
    clusters: str,
    runs: list[str],
    metrics: str,
    region_f1: str,
    sample: str,
    method: str,
    group: str = "",
) -> None:
    """One method on one section: its runs' mean and sd (ARI, NMI), and its consensus clusters' scores.

    ``runs`` are the clusters of each seed (a baseline's single run: ``clusters``
    itself); ``clusters`` is the consensus, which the region F1 describes.
    ``group``: the group whose joint regions these are (``<method>_joint``), else empty.
    """
    obs = ad.read_h5ad(spots, backed="r").obs
    if "label" not in obs:
        raise InputError(spots, "has no pathologist labels to evaluate against", "Add a labels file for this section.")
    labels = obs["label"].astype(str)
    cl = read_clusters(clusters, obs.index)
    scores = evaluation.agreement(labels, cl)
    per_run = [evaluation.agreement(labels, read_clusters(path, obs.index)) for path in runs]
    ari, ari_sd = evaluation.mean_sd([s["ari"] for s in per_run])
    nmi, nmi_sd = evaluation.mean_sd([s["nmi"] for s in per_run])
    # the consensus step stores the mean over seeds; a baseline's embedding step its own time
    seconds = float(ad.read_h5ad(embedding, backed="r").uns.get("seconds", np.nan))
    row = pd.DataFrame(
        [
            {
                "sample": sample,
                "method": method,
                "group": group,
                "ari": ari,
                "ari_sd": ari_sd,
                "ari_consensus": scores["ari"],
                "nmi": nmi,
                "nmi_sd": nmi_sd,
                "nmi_consensus": scores["nmi"],
                "n_seeds": len(runs),
                "n_spots": len(cl),
                "n_clusters": int(len(np.unique(cl))),
                "seconds": seconds,
            }
        ]
    )
    LOG.info(
        "%s %s: ARI %.4f (sd %.4f over %d run(s): %s), consensus ARI %.4f, NMI %.4f over %d annotated spots",
        sample, method, ari, ari_sd, len(runs), " ".join(f"{s['ari']:.4f}" for s in per_run),
        scores["ari"], nmi, scores["n_annotated"],
    )
    f1 = evaluation.region_f1(labels, cl)
    f1.insert(0, "method", method)
    f1.insert(0, "sample", sample)
    write_tsv(row, metrics)
    write_tsv(f1, region_f1)


#: Columns of results/metrics/ari.tsv (README, Outputs; workflow/report/ari_table.rst).
METRIC_COLUMNS = [
    "sample",
    "method",
    "group",
    "ari",
    "ari_sd",
    "ari_consensus",
    "nmi",
    "nmi_sd",
    "nmi_consensus",
    "n_seeds",
    "n_spots",
    "n_clusters",
    "seconds",
]


#: Columns of results/metrics/groups.tsv (one row per group and method; see group_metrics_step).
GROUP_COLUMNS = [
    "group", "method", "sections", "n_spots", "n_regions", "regions_shared", "regions_one_section", "mixing", "ari_pooled"
]


def _read_rows(path: str) -> pd.DataFrame:
    """A one-row metrics table; ``group`` stays text (empty for a section run alone)."""
    return pd.read_csv(path, sep="\t", dtype={"group": str})


def aggregate_step(
    metrics: list[str],
    region_f1: list[str],
    ari_out: str,
    f1_out: str,
    groups: list[str] | None = None,
    groups_out: str | None = None,
) -> pd.DataFrame:
    """The per-section, per-method rows into ``ari.tsv`` and ``region_f1.tsv`` (and the groups' into ``groups.tsv``)."""
    table = pd.concat([_read_rows(p) for p in metrics]) if metrics else pd.DataFrame(columns=METRIC_COLUMNS)
    f1 = pd.concat([pd.read_csv(p, sep="\t") for p in region_f1]) if region_f1 else pd.DataFrame()
    write_tsv(table[METRIC_COLUMNS], ari_out)
    write_tsv(f1, f1_out)
    if groups_out:
        rows = pd.concat([_read_rows(p) for p in groups]) if groups else pd.DataFrame(columns=GROUP_COLUMNS)
        write_tsv(rows[GROUP_COLUMNS], groups_out)
    return table


def primary_step(embedding: str, clusters: str, out_embedding: str, out_clusters: str) -> None:
    """Publish the primary method's results under the section's top-level names."""
    import shutil

    from senca_st.io.atomic import atomic_path

    for src, dest in ((embedding, out_embedding), (clusters, out_clusters)):
        with atomic_path(dest) as tmp:
            shutil.copyfile(src, tmp)
    LOG.info("primary results from %s", Path(embedding).parent.name)


def consensus_step(runs: list[str], embeddings: list[str], seeds: list[int], out_clusters: str, out_embedding: str) -> None:
    """A SENCA-st variant's seeds -> its ``clusters.tsv`` (consensus) and ``embedding.h5ad``.

    The embedding is the representative seed's (the run closest to the
    consensus; embeddings of different seeds live in different bases and cannot
    be averaged), with ``uns['seed']`` naming it and ``uns['seconds']`` the mean
    wall time of one run, which the metrics table reports.
    """
    from senca_st.method.consensus import consensus_clusters

    spots = pd.Index(pd.read_csv(runs[0], sep="\t", dtype={"spot": str})["spot"])
    labels = [read_clusters(path, spots) for path in runs]
    result = consensus_clusters(labels)
    ref, rep = seeds[result.reference], seeds[result.representative]
    n_found = len(np.unique(result.labels))
    LOG.info(
        "consensus of seeds %s: reference seed %d, %d round(s), %d regions; embedding of seed %d",
        ", ".join(map(str, seeds)), ref, result.rounds, n_found, rep,
    )
    if n_found < max(len(np.unique(run)) for run in labels):
        LOG.warning("the consensus has fewer regions (%d) than the seeds' clusterings", n_found)
    write_tsv(pd.DataFrame({"spot": spots, "cluster": result.labels}), out_clusters)
    seconds = [float(ad.read_h5ad(path, backed="r").uns.get("seconds", np.nan)) for path in embeddings]
    emb = ad.read_h5ad(embeddings[result.representative])
    emb.uns["seed"] = rep
    emb.uns["seeds"] = np.asarray(seeds, dtype=np.int64)
    emb.uns["seconds_per_seed"] = np.asarray(seconds, dtype=np.float64)
    emb.uns["seconds"] = float(np.mean(seconds))
    write_h5ad(emb, out_embedding)
