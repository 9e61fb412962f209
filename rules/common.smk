import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.utils import validate

from senca_st import methods as senca_methods
from senca_st.her2st_manifest import load_manifest, section_files
from senca_st.samplesheet import load_sample_sheet

validate(config, schema="../config/schemas/config.schema.yaml")
samples = load_sample_sheet(config["samples"])
validate(samples.replace("", None), schema="../config/schemas/samples.schema.yaml")
her2st_manifest = load_manifest(config["her2st"]["manifest"])


wildcard_constraints:
    sample="|".join(map(re.escape, samples.index)),
    method="|".join(senca_methods.METHODS),


def _row(sample):
    return samples.loc[sample]


def _her2st_files(sample):
    """Relative upstream paths of a HER2ST section's files, from the manifest."""
    files = section_files(her2st_manifest, sample)
    if files["counts"] is None:
        raise ValueError(
            f"{config['samples']}: sample {sample!r} is not a HER2ST section listed in {config['her2st']['manifest']}"
        )
    return files


def section_inputs(wildcards):
    """The section's raw files: counts, spots, (labels), as the dataset lays them out."""
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
            "counts": f"resources/her2st/{up['counts']}",
            "spots": f"resources/her2st/{up['spots']}",
        }
        if up["labels"]:
            files["labels"] = f"resources/her2st/{up['labels']}"
    else:  # visium
        outs = Path(row["visium_dir"])
        files = {"matrix": str(outs / "filtered_feature_bc_matrix.h5")}
    for col in ("counts", "spots", "labels"):
        if row.get(col, ""):
            files[col] = row[col]
    return files


def section_image(wildcards):
    """The H&E image to tile, or an empty list for a section without one."""
    row = _row(wildcards.sample)
    image = row.get("image", "")
    if image == "none":
        return []
    if image:
        return image
    if row["dataset"] == "demo":
        return f"resources/demo/{wildcards.sample}/image.png"
    if row["dataset"] == "her2st":
        up = _her2st_files(wildcards.sample)
        return f"resources/her2st/{up['image']}" if up["image"] else []
    return str(Path(row["visium_dir"]) / "spatial" / "tissue_hires_image.png")


def has_image(sample):
    return bool(section_image(type("W", (), {"sample": sample})))


def has_labels(sample):
    return "labels" in section_inputs(type("W", (), {"sample": sample}))


def section_methods(sample):
    """Methods run on a section: the image ones need an H&E image."""
    key = "with_image" if has_image(sample) else "without_image"
    return list(config["methods"][key])


def primary_method(sample):
    return "senca" if has_image(sample) else "senca_rna"


def n_clusters(wildcards):
    """Regions to find: the sheet's n_clusters, else 0 meaning 'the annotated regions'."""
    value = _row(wildcards.sample).get("n_clusters", "")
    return int(value) if value else 0


def evaluated(sample, method):
    return f"results/{sample}/methods/{method}/metrics.tsv"


def final_targets():
    targets = ["results/metrics/ari.tsv", "results/metrics/region_f1.tsv"]
    for sample in samples.index:
        targets += [
            f"results/{sample}/clusters.tsv",
            f"results/{sample}/embedding.h5ad",
        ]
        targets += [
            f"results/{sample}/methods/{m}/clusters.tsv"
            for m in section_methods(sample)
        ]
    return targets
