"""What reruns after a change: only what the change reaches (Snakemake 9's default rerun triggers).

Two demo sections (``demo`` with its H&E image, ``demo2`` without) run to the end
with the small config; then dry runs show which jobs a change would rerun:
- a new ``train:`` setting reruns training and what follows it, never the
  section loading, preprocessing, tiling or image features (trigger: params);
- a seed added to ``train.seeds`` trains that seed alone, then the consensus and
  what follows it; the single-seed form ``train.seed`` of the same seed reruns
  nothing;
- a changed input file of ``demo2`` reruns ``demo2``'s jobs and the tables and
  figures that gather all sections, nothing of ``demo`` (trigger: mtime, and
  Snakemake 9 compares the recorded checksum, so a file only rewritten with the
  same content reruns nothing).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from workflow_copy import copy_workflow, run_snakemake, write_overlay

pytestmark = pytest.mark.slow

SHEET = "sample\tdataset\timage\ndemo\tdemo\t\ndemo2\tdemo\tnone\n"
# Jobs that gather every section: they rerun whenever any section changes.
GATHERING = {"aggregate_metrics", "metrics_figure", "runtime_figure", "all"}
UPSTREAM_OF_TRAINING = {"make_demo", "load_section", "preprocess", "image_features", "image_gate", "baseline_embedding"}


def snakemake(wf: Path, *args: str) -> str:
    proc = run_snakemake(wf, *args)
    return proc.stdout + proc.stderr


def planned_jobs(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run lists."""
    jobs = []
    for m in re.finditer(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n?)*)", output, flags=re.M):
        wc = re.search(r"^\s+wildcards: (.*)$", m.group(2), flags=re.M)
        wildcards = dict(kv.split("=", 1) for kv in wc.group(1).split(", ")) if wc else {}
        jobs.append((m.group(1), wildcards))
    return jobs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, list[str]]:
    """The workflow copy after a complete run of two demo sections, and its config arguments."""
    wf = copy_workflow(tmp_path_factory.mktemp("reruns") / "wf")
    (wf / "config" / "samples_two.tsv").write_text(SHEET)
    sheet = write_overlay(wf, "samples: config/samples_two.tsv\n", name="two_sections.yaml")
    config = ["--configfile", "config/test/basic.yaml", str(sheet)]
    snakemake(wf, "all", "results/report/runtimes.png", *config)
    return wf, config


def dry_run(wf: Path, config: list[str]) -> list[tuple[str, dict[str, str]]]:
    return planned_jobs(snakemake(wf, "-n", "all", "results/report/runtimes.png", *config))


def test_complete_run_leaves_nothing_to_do(finished_run):
    wf, config = finished_run
    assert dry_run(wf, config) == []
    assert (wf / "results/demo2/clusters.tsv").is_file() and (wf / "results/demo/image_features.npy").is_file()
    assert not (wf / "results/demo2/image_features.npy").exists(), "demo2 has no image: nothing to tile"
    assert not list(wf.glob("results/*/patches.npy")), "patches are cut as they are encoded, never stored"


def test_new_training_setting_reruns_training_not_preprocessing_or_tiling(finished_run):
    wf, config = finished_run
    epochs = write_overlay(wf, "train:\n  epochs: 3\n", name="three_epochs.yaml")
    jobs = dry_run(wf, [*config, str(epochs)])
    rules = {rule for rule, _ in jobs}
    trained = {wc.get("sample") for rule, wc in jobs if rule == "train"}
    assert trained == {"demo", "demo2"}, f"both sections' models retrain: {jobs}"
    assert not rules & UPSTREAM_OF_TRAINING, f"a training setting reran {sorted(rules & UPSTREAM_OF_TRAINING)}"
    assert {"cluster", "evaluate", "primary_outputs"} <= rules
    # only SENCA-st methods retrain; the PCA baseline's clusters stay
    assert not any("rna_pca" in (wc.get("method"), wc.get("run")) for _, wc in jobs), jobs


def test_refinement_reclusters_without_retraining(finished_run):
    wf, config = finished_run
    refine = write_overlay(wf, "cluster:\n  refine: 6\n", name="refine.yaml")
    rules = {rule for rule, _ in dry_run(wf, [*config, str(refine)])}
    assert {"cluster", "consensus", "evaluate"} <= rules
    assert "train" not in rules and not rules & UPSTREAM_OF_TRAINING


def test_another_gene_flavour_preprocesses_and_trains_again(finished_run):
    wf, config = finished_run
    flavour = write_overlay(wf, "preprocess:\n  hvg_flavor: seurat_v3\n", name="flavour.yaml")
    jobs = dry_run(wf, [*config, str(flavour)])
    assert {wc.get("sample") for rule, wc in jobs if rule == "preprocess"} == {"demo", "demo2"}
    assert {"train", "cluster"} <= {rule for rule, _ in jobs}


def test_added_seed_trains_that_seed_alone(finished_run):
    wf, config = finished_run
    two = write_overlay(wf, "train:\n  seeds: [1, 0]\n", name="two_seeds.yaml")
    jobs = dry_run(wf, [*config, str(two)])
    rules = {rule for rule, _ in jobs}
    trained = {(wc["sample"], wc["method"], wc["seed"]) for rule, wc in jobs if rule == "train"}
    assert trained == {("demo", "senca", "1"), ("demo2", "senca_rna", "1")}, f"seed 0 retrained: {jobs}"
    assert {wc["run"] for rule, wc in jobs if rule == "cluster"} == {"senca/seed1", "senca_rna/seed1"}
    assert {"consensus", "evaluate", "primary_outputs"} <= rules
    assert not rules & UPSTREAM_OF_TRAINING, f"a new seed reran {sorted(rules & UPSTREAM_OF_TRAINING)}"
    assert not any("rna_pca" in (wc.get("method"), wc.get("run")) for _, wc in jobs), "the baseline runs once"
    # train.seed, the older single-seed form, of the seed already run: nothing to do
    single = write_overlay(wf, "train:\n  seed: 0\n", name="single_seed.yaml")
    assert dry_run(wf, [*config, str(single)]) == []


def test_changed_input_of_one_section_reruns_only_that_section(finished_run):
    wf, config = finished_run
    labels = wf / "resources/demo/demo2/labels.tsv"
    text = labels.read_text()
    time.sleep(1.1)  # a visibly newer modification time on coarse-grained filesystems
    # The same content written again: newer, but Snakemake 9 compares the recorded checksum.
    labels.write_text(text)
    assert dry_run(wf, config) == [], "an unchanged (only newer) input file reran jobs"
    # The pathologist re-annotates one spot: a real change of demo2's input.
    header, first, rest = text.split("\n", 2)
    labels.write_text("\n".join([header, first.rsplit("\t", 1)[0] + "\tundetermined", rest]))
    jobs = dry_run(wf, config)
    per_section = {wc["sample"] for _, wc in jobs if "sample" in wc}
    assert per_section == {"demo2"}, f"jobs of other sections rerun: {[j for j in jobs if j[1].get('sample') != 'demo2']}"
    rules = {rule for rule, _ in jobs}
    assert {"load_section", "preprocess", "train", "cluster", "evaluate", "primary_outputs"} <= rules
    assert not {rule for rule, wc in jobs if "sample" not in wc} - GATHERING
    assert "make_demo" not in rules, "the section's own input is the change, not a reason to regenerate it"


def test_changed_encoder_reruns_the_image_features_and_the_image_methods(finished_run):
    wf, config = finished_run
    meta = (wf / "results/demo/image_features.json").read_text()
    assert '"encoder": "efficientnet_lite0"' in meta and '"feature_dim": 1280' in meta
    other = write_overlay(wf, "features:\n  encoder: timm:test_vit\n", name="other_encoder.yaml")

    def plan(cfg):
        return {(rule, tuple(sorted(wc.items()))) for rule, wc in dry_run(wf, cfg)}

    # what the encoder change adds to whatever the module's earlier tests left to do
    added = [(rule, dict(wc)) for rule, wc in plan([*config, str(other)]) - plan(config)]
    assert {wc["sample"] for rule, wc in added if rule == "image_features"} == {"demo"}, added
    trained = {(wc["sample"], wc["method"]) for rule, wc in added if rule == "train"}
    assert trained == {("demo", "senca")}, f"only the image methods retrain: {added}"
    assert not any(rule in ("load_section", "preprocess") or wc.get("sample") == "demo2" for rule, wc in added), added
