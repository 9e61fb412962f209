import functools
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
# envs/*.post-deploy.sh install the senca_st package from here into each conda env.
os.environ.setdefault("SENCA_ST_ROOT", str(workflow.basedir))

from snakemake.logging import logger

from senca_st.io import cscc as senca_cscc
from senca_st.io import section_image as senca_section_image
from senca_st.method import encoders as senca_encoders
from senca_st.method import catalogue as senca_methods
from senca_st.io import visium_datasets as senca_visium
from senca_st.config_check import check_config, config_files_in_order, spots_needed
from senca_st.errors import InputError
from senca_st.io.her2st_manifest import load_manifest, section_files
from senca_st.samplesheet import (
    AUTO,
    AUTO_RANGE,
    NONE,
    check_sections,
    load_sample_sheet,
)
from senca_st.io.sections import READER_MODULES, visium_folder


def _workflow_path(path):
    """A path from the config: relative to the working directory, else to the workflow."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return Path(workflow.basedir) / path


# Config and sample sheet are checked before any job starts; a problem is one
# "ERROR: <file>: <what is wrong>. <what to do>" line (no traceback) and exit 1.
try:
    check_config(
        config,
        Path(workflow.basedir) / "config" / "schemas" / "config.schema.yaml",
        config_files_in_order(workflow.configfiles, workflow.overwrite_configfiles),
    )
    samples = load_sample_sheet(
        config["samples"],
        schema=Path(workflow.basedir) / "config" / "schemas" / "samples.schema.yaml",
    )
    her2st_manifest = load_manifest(_workflow_path(config["her2st"]["manifest"]))
    check_sections(
        samples, config["samples"], her2st_manifest, config["her2st"]["manifest"]
    )
except InputError as _err:
    logger.error(f"ERROR: {_err}")
    sys.exit(1)
for _note in samples.attrs.get("notes", []):
    logger.warning(f"NOTE: {_note}")


# --- groups: sections analysed together (senca_st.method.groups); their files live under
# results/groups/{group}/, and the rules that run on one section or one group (train,
# baseline_embedding, cluster, consensus) take sample=groups/{group} (unit_pattern()).

GROUP_DIR = "groups/"
GROUPS = (
    {
        g: list(rows.index)
        for g, rows in samples[samples["group"] != ""].groupby("group", sort=False)
    }
    if "group" in samples.columns
    else {}
)
JOINT = "_joint"


def unit_pattern():
    """What {sample} may be in the rules a group shares with sections: a section or groups/<id>."""
    return "|".join(
        [re.escape(s) for s in samples.index]
        + [re.escape(GROUP_DIR + g) for g in GROUPS]
    )


def section_group(sample):
    """The section's group id, or '' for a section run alone."""
    return _row(sample).get("group", "")


def joint_methods(group):
    """Methods run on a group (groups.methods): those using the image only when every section has one."""
    wanted = config["groups"]["methods"]
    all_images = all(has_image(s) for s in GROUPS[group])
    return [m for m in wanted if all_images or not senca_methods.method(m).needs_image]


def demo_section_index(sample):
    """A demo section's place in its group (0 alone): later ones are serial sections of the first."""
    group = _row(sample).get("group", "") if sample in samples.index else ""
    return GROUPS[group].index(sample) if group else 0


def base_method(method):
    """senca_rna for senca_rna_joint; a method's own name otherwise."""
    return method[: -len(JOINT)] if method.endswith(JOINT) else method


def joint_names():
    return [m + JOINT for m in senca_methods.METHODS]


wildcard_constraints:
    sample="|".join(map(re.escape, samples.index)),
    method="|".join(list(senca_methods.METHODS) + joint_names()),
    group="|".join(map(re.escape, GROUPS)) or "(?!)",


def code_digest(*modules):
    """Hash of the package modules a step runs, passed as a param so that editing them reruns it.

    Snakemake's 'code' rerun trigger sees the rule's script, not the library the
    script calls; with this param a change to e.g. senca_st/method/model/ reruns training
    (and what follows) but not preprocessing.
    """
    import hashlib

    pkg = Path(workflow.basedir) / "src" / "senca_st"
    digest = hashlib.sha256()
    for name in modules:
        path = pkg / name
        files = (
            sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
        )
        for f in files:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def _row(sample):
    return samples.loc[sample]


def _her2st_files(sample):
    """Relative upstream paths of a HER2ST section's files, from the manifest (None where absent).

    A sample the manifest does not list has none; check_sections made sure the
    sheet then names its counts and spots.
    """
    return section_files(her2st_manifest, sample)


VISIUM_CONFIG = config["visium"]


def visium_outs(sample):
    """A Visium section's Space Ranger folder: visium_dir, its Visium HD binning (bin_um),
    or resources/visium/{visium_id}/outs for a 10x dataset downloaded by name.

    Empty for other datasets; the sheet check made sure the binning exists.
    """
    row = _row(sample)
    if row["dataset"] != "visium":
        return ""
    if row.get("visium_id", ""):
        return f"resources/visium/{row['visium_id']}/outs"
    return str(visium_folder(row["visium_dir"], row.get("bin_um", "") or None))


def section_user_image(sample):
    """The full-resolution image a Visium section is tiled from: the sheet's image column, else a
    downloaded 10x dataset's image.tif (visium.full_image), else '' (the hires PNG)."""
    row = _row(sample)
    image = row.get("image", "")
    if not image and row.get("visium_id", "") and VISIUM_CONFIG["full_image"]:
        return f"resources/visium/{row['visium_id']}/image.tif"
    return image


def visium_url(wildcards):
    """10x URL of resources/visium/{vid}/{file} (senca_st.io.visium_datasets)."""
    return senca_visium.url(
        VISIUM_CONFIG["base_url"], wildcards.vid, Path(wildcards.file).name
    )


def section_inputs(wildcards):
    """The section's raw files: counts, spots, (labels), as the dataset lays them out.

    Files named in the sheet replace the dataset's; labels 'none' means no labels.
    """
    row = _row(wildcards.sample)
    if row["dataset"] == "demo":
        base = f"resources/demo/{wildcards.sample}"
        files = {
            "counts": f"{base}/counts.tsv.gz",
            "spots": f"{base}/spots.tsv",
            "labels": f"{base}/labels.tsv",
        }
    elif row["dataset"] == "her2st":
        up = _her2st_files(wildcards.sample)
        files = {
            kind: f"resources/her2st/{up[kind]}"
            for kind in ("counts", "spots", "labels")
            if up[kind] and not row.get(kind, "")
        }
    elif row["dataset"] == "cscc":
        files = {
            kind: f"resources/cscc/{path}"
            for kind, path in cscc_files(wildcards.sample).items()
            if not row.get(kind, "")
        }
    elif row["dataset"] == "h5ad":
        files = {"h5ad": row["h5ad"]}
    else:  # visium
        outs = Path(visium_outs(wildcards.sample))
        files = {"matrix": str(outs / "filtered_feature_bc_matrix.h5")}
        if row.get(
            "visium_id", ""
        ):  # downloaded: its spatial/ folder comes from rule unpack_visium_spatial
            files["spatial"] = str(outs / "spatial" / "scalefactors_json.json")
    for col in ("counts", "spots", "labels"):
        if row.get(col, ""):
            files[col] = row[col]
    if files.get("labels") == NONE:
        del files["labels"]
    return files


def section_image(wildcards):
    """The H&E image to tile, or an empty list for a section without one."""
    row = _row(wildcards.sample)
    image = row.get("image", "")
    if image == NONE:
        return []
    if image:
        return image
    if row["dataset"] == "demo":
        return f"resources/demo/{wildcards.sample}/image.png"
    if row["dataset"] == "her2st":
        up = _her2st_files(wildcards.sample)
        return f"resources/her2st/{up['image']}" if up["image"] else []
    if row["dataset"] == "h5ad":
        return row["h5ad"] if _h5ad_image(row["h5ad"], wildcards.sample) else []
    if row["dataset"] == "cscc":
        return []  # no image of its own (cSCC's image files are not known by name)
    return section_user_image(wildcards.sample) or str(
        Path(visium_outs(wildcards.sample)) / "spatial" / "tissue_hires_image.png"
    )


@functools.cache
def _h5ad_image(path, sample):
    """Whether an .h5ad keeps the section's H&E in uns['spatial'] (read once; the sheet check
    has already refused a broken uns['spatial'])."""
    return senca_section_image.h5ad_image_source(path, sample) is not None


def image_spec(sample):
    """What senca_st.io.section_image.resolve_image needs beside the image input, for every rule
    that reads the H&E (patches, region maps, section.h5ad): one image at one scale."""
    row = _row(sample)
    return {
        "dataset": row["dataset"],
        "sample": sample,
        "visium_dir": visium_outs(sample),
        "user_image": section_user_image(sample),
        "image_scale": row.get("image_scale", ""),
    }


def has_image(sample):
    return bool(section_image(type("W", (), {"sample": sample})))


def has_labels(sample):
    """A label file, or (h5ad) an obs column of regions named by label_key."""
    if _row(sample).get("label_key", ""):
        return True
    return "labels" in section_inputs(type("W", (), {"sample": sample}))


def section_methods(sample):
    """Methods run on a section: the image ones need an H&E image."""
    key = "with_image" if has_image(sample) else "without_image"
    return list(config["methods"][key])


def primary_method(sample):
    """The method whose regions are the section's clusters.tsv: senca with an image, senca_rna
    without, when listed; else the first method listed (the lists mean what they say: nothing
    that is not listed is trained)."""
    methods = section_methods(sample)
    preferred = "senca" if has_image(sample) else "senca_rna"
    return preferred if preferred in methods else methods[0]


def group_primary_method(group):
    """The joint method a group's figure shows: senca where it runs, else senca_rna, else the first."""
    methods = joint_methods(group)
    return next((m for m in ("senca", "senca_rna") if m in methods), methods[0])


def n_clusters(wildcards):
    """Regions to find: the sheet's n_clusters (a number or 'auto'), else 0 meaning 'the annotated regions'.

    A group's sections share one value (the sheet check makes sure).
    """
    unit = wildcards.sample
    sample = GROUPS[unit[len(GROUP_DIR) :]][0] if unit.startswith(GROUP_DIR) else unit
    value = _row(sample).get("n_clusters", "")
    if value == AUTO:
        return AUTO
    return int(value) if value else 0


def min_spots(wildcards):
    """What the preprocess step checks a section's spot count against (see spots_needed)."""
    sample = wildcards.sample
    requested = n_clusters(wildcards)
    if not requested and not has_labels(sample):
        requested = config["cluster"]["default_n_clusters"]
    if requested == AUTO:
        requested = AUTO_RANGE[0]  # the fewest regions choose_n_clusters considers
    return spots_needed(config["train"], section_methods(sample), requested)


def evaluated_methods(sample):
    """The methods a section gets a row of ari.tsv for: its own, then its group's joint ones."""
    group = section_group(sample)
    joint = [m + JOINT for m in joint_methods(group)] if group else []
    return section_methods(sample) + joint


def section_file_methods(sample):
    """The methods whose regions section.h5ad holds: the primary one first, then the rest."""
    primary = primary_method(sample)
    return [primary] + [m for m in evaluated_methods(sample) if m != primary]


def analysis_targets():
    """Every section's regions and embeddings and the metrics tables (all but the report)."""
    targets = ["results/metrics/ari.tsv", "results/metrics/region_f1.tsv"]
    for sample in samples.index:
        targets += [
            f"results/{sample}/clusters.tsv",
            f"results/{sample}/embedding.h5ad",
            f"results/{sample}/section.h5ad",
            f"results/{sample}/region_markers.tsv",
        ]
        targets += [
            f"results/{sample}/methods/{m}/clusters.tsv"
            for m in evaluated_methods(sample)
        ]
    if GROUPS:
        targets.append("results/metrics/groups.tsv")
        targets += [f"results/groups/{g}/region_markers.tsv" for g in GROUPS]
    return targets


def report_figures():
    """The report's figures: a region map and a marker dot plot per section, the metrics and runtime charts."""
    return (
        [f"results/report/sections/{s}.png" for s in samples.index]
        + [f"results/report/markers/{s}.png" for s in samples.index]
        + [f"results/report/groups/{g}.png" for g in GROUPS]
        + ["results/report/metrics.png", "results/report/runtimes.png"]
    )


def final_targets():
    return analysis_targets() + report_figures()


# --- input functions and params of the download, features and train rules


def cscc_files(sample):
    """GEO paths of a cSCC section's counts and spots (none for a sample the sheet gives files for)."""
    return senca_cscc.section_files(sample) if sample in senca_cscc.SECTIONS else {}


def cscc_url(wildcards):
    """GEO URL of resources/cscc/{path}: cscc.base_url joined with the path."""
    base = config["cscc"]["base_url"]
    return f"{base.rstrip('/')}/{wildcards.path}"


def her2st_url(wildcards):
    """Upstream URL of resources/her2st/{path}: her2st.base_url joined with the path."""
    return f"{config['her2st']['base_url'].rstrip('/')}/{wildcards.path}"


def her2st_entry(wildcards):
    """Size, sha256 and git blob SHA-1 of the file (empty strings where unknown)."""
    entry = her2st_manifest.get(wildcards.path)
    if entry is None:
        raise ValueError(
            f"{config['her2st']['manifest']}: {wildcards.path} is not listed; "
            "only files in the HER2ST manifest can be downloaded (they are verified against it)."
        )
    return {
        "size": "" if entry.size is None else str(entry.size),
        "sha256": entry.sha256,
        "git_blob_sha1": entry.git_blob_sha1,
    }


RESNET_WEIGHTS_FILE = f"resources/weights/{senca_encoders.RESNET50_FILE}"


def encoder_weights(wildcards):
    """The encoder's weights file: features.weights, else resnet50's downloaded file, else none
    (the encoder's own: efficientnet_lite0's installed file, a timm model's hub)."""
    feats = config["features"]
    if feats["weights"]:
        return feats["weights"]
    if feats["encoder"] == "resnet50" and feats["download_weights"]:
        return RESNET_WEIGHTS_FILE
    return []


def train_inputs(wildcards):
    """Preprocessed expression, plus the image features (and the section's image gate,
    train.image_gate) only when the variant uses the image."""
    unit = f"results/{wildcards.sample}"
    inputs = {"preprocessed": f"{unit}/preprocessed.h5ad"}
    settings = senca_methods.train_settings(config["train"], wildcards.method)
    if settings["use_image"]:
        inputs["features"] = f"{unit}/image_features.npy"
        if settings["image_gate"]:
            inputs["gate"] = f"{unit}/image_gate.json"
    return inputs


# --- seeds: every SENCA-st variant runs once per seed, then a consensus (senca_st.method.consensus)

SEEDS = senca_methods.run_seeds(config["train"])
if "seed" in config["train"]:
    logger.warning(
        f"NOTE: train.seed is set: SENCA-st methods run once, with seed {SEEDS[0]} "
        "(train.seeds is not used). Remove train.seed to run every seed of train.seeds."
    )


# Past train.large_spots spots a seed costs a whole tile's steps, however large the section, and
# tiled seeds agree closely (docs/benchmarks.md "Scale"): such a unit runs the first
# train.large_seeds seeds. Its size is known before it is read for the legacy ST array (HER2ST,
# cSCC, at most 1007 spots) and the generated demo; other sections are counted once loaded
# (load_section is a checkpoint), so `snakemake -n` lists their training after that.
ST_ARRAY_SPOTS = 1007
_SEED_NOTES = set()


def _spots_bound(sample):
    """The most spots ``sample`` can have, known from the sheet and config alone; None if unknown."""
    row = _row(sample)
    if row.get("counts", "") or row["dataset"] not in ("her2st", "cscc", "demo"):
        return None
    if row["dataset"] == "demo" and config["demo"]["n_spots"]:
        return round(1.01 * config["demo"]["n_spots"])
    return ST_ARRAY_SPOTS


@functools.cache
def _spots_in_file(path, mtime_ns):
    import anndata

    return anndata.read_h5ad(path, backed="r").n_obs


def _loaded_spots(path):
    """Spots in a loaded spots.h5ad, read once per version of the file: the input functions
    asking run many times, and a rerun of load_section in the same run writes a new version.
    """
    return _spots_in_file(path, os.stat(path).st_mtime_ns)


def unit_spots(unit):
    """Spots of a section or group (groups/<id>): from the sheet where known, else its loaded spots.h5ad."""
    sections = GROUPS[unit[len(GROUP_DIR) :]] if unit.startswith(GROUP_DIR) else [unit]
    bounds = [_spots_bound(s) for s in sections]
    if None not in bounds:
        return sum(bounds)
    return sum(
        _loaded_spots(checkpoints.load_section.get(sample=s).output[0])
        for s in sections
    )


def unit_seeds(unit):
    """The seeds a SENCA-st variant runs with on a section or group: train.seeds, or past
    train.large_spots spots its first train.large_seeds (0: always every seed)."""
    keep, limit = config["train"]["large_seeds"], config["train"]["large_spots"]
    if not keep or len(SEEDS) <= keep or unit_spots(unit) <= limit:
        return SEEDS
    if unit not in _SEED_NOTES:
        _SEED_NOTES.add(unit)
        logger.warning(
            f"NOTE: {unit} has more than {limit} spots (train.large_spots): SENCA-st methods run "
            f"seeds {', '.join(map(str, SEEDS[:keep]))} of train.seeds (train.large_seeds: {keep}; 0 runs every seed)."
        )
    return SEEDS[:keep]


def method_runs(sample, method):
    """A method's runs, as paths under results/{sample}/methods/: one per seed, or a baseline's one.

    A baseline is deterministic and runs once (senca_st.method.catalogue.seeded); a SENCA-st
    variant runs once per seed of unit_seeds into {method}/seed{seed}/ (senca_rna_joint: the
    section's part of its group's runs, senca_rna_joint/seed{seed}/, with the group's seeds).
    """
    if senca_methods.seeded(base_method(method)):
        unit = GROUP_DIR + section_group(sample) if method.endswith(JOINT) else sample
        return [f"{method}/seed{seed}" for seed in unit_seeds(unit)]
    return [method]


def run_seed(run):
    """The seed of a cluster rule's {run}: N for a variant's seed{N} folder, 0 for a baseline."""
    folder = run.rpartition("/")[2]
    return int(folder[len("seed") :]) if folder.startswith("seed") else 0


def run_pattern():
    """What the cluster rule's {run} may be: a baseline, or a SENCA-st variant's seed{N} folder.

    Exact, so that results/{sample}/methods/senca/clusters.tsv (the consensus)
    never matches the cluster rule.
    """
    once = [m for m in senca_methods.METHODS if not senca_methods.seeded(m)]
    return f"(?:{'|'.join(once)})|(?:{seeded_pattern()})/seed[0-9]+"


def seeded_pattern():
    """The SENCA-st variants by name, exactly: never a section's senca_rna_joint (rule joint_section)."""
    return "|".join(m for m in senca_methods.METHODS if senca_methods.seeded(m))


def baseline_pattern():
    """The baselines by name, exactly (methods of the catalogue that run once, unseeded)."""
    return "|".join(m for m in senca_methods.METHODS if not senca_methods.seeded(m))


def joint_run_pattern():
    """A section's part of a group run: senca_rna_joint/seed0, senca_rna_joint, rna_pca_joint."""
    return f"(?:{'|'.join(senca_methods.METHODS)}){JOINT}(?:/seed[0-9]+)?"


def group_run(wildcards):
    """results/groups/{group}/methods/{run}/{file} for a section's {method}_joint[/seed{N}]/{file}."""
    method, sep, seed_dir = wildcards.run.partition("/")
    run = base_method(method) + sep + seed_dir
    group = section_group(wildcards.sample)
    return f"results/{GROUP_DIR}{group}/methods/{run}/{wildcards.file}"
