"""Past ``train.large_spots`` spots a section runs only the first ``train.large_seeds`` seeds, and says so.

Where the sheet tells the size (the demo, HER2ST/cSCC's ST arrays) the DAG has the
fewer training jobs from the start; an ``.h5ad`` is counted once ``load_section``
(a checkpoint) has read it.
"""

from __future__ import annotations

import anndata as ad

from test_h5ad import section_anndata, write
from test_reruns import planned_jobs
from workflow_copy import copy_workflow, run_snakemake, write_overlay

QUICK = "  epochs: 1\n  steps_per_epoch: 2\n"


def planned_train_jobs(text: str) -> list[str]:
    """The seed folders of the train jobs a dry run lists."""
    return sorted(f"{wc['sample']}/{wc['method']}/seed{wc['seed']}" for rule, wc in planned_jobs(text) if rule == "train")


def test_the_demo_past_the_size_plans_fewer_seeds_from_the_start(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    overlay = write_overlay(wf, "train:\n  seeds: [0, 1, 2, 3]\n  large_spots: 500\n  large_seeds: 2\n")
    proc = run_snakemake(wf, "-n", "results/demo/methods/senca_rna/clusters.tsv", "--configfile", str(overlay))
    text = proc.stdout + proc.stderr
    assert planned_train_jobs(text) == ["demo/senca_rna/seed0", "demo/senca_rna/seed1"]
    assert "NOTE: demo has more than 500 spots (train.large_spots): SENCA-st methods run seeds 0, 1 of train.seeds" in text


def test_an_h5ad_section_is_counted_once_loaded_and_its_other_seeds_never_run(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    gen = write(section_anndata(), tmp_path / "gen.h5ad")  # 72 spots
    (wf / "config" / "samples_gen.tsv").write_text(f"sample\tdataset\th5ad\tn_clusters\ngen\th5ad\t{gen}\t3\n")
    settings = "samples: config/samples_gen.tsv\nmethods:\n  without_image: [senca_rna]\ntrain:\n  seeds: [0, 1, 2]\n" + QUICK
    overlay = write_overlay(wf, settings + "  large_spots: 50\n  large_seeds: 2\n")
    target = "results/gen/methods/senca_rna/clusters.tsv"
    proc = run_snakemake(wf, target, "--configfile", str(overlay))
    runs = wf / "results" / "gen" / "methods" / "senca_rna"
    assert sorted(p.name for p in runs.glob("seed*")) == ["seed0", "seed1"]
    assert "NOTE: gen has more than 50 spots (train.large_spots): SENCA-st methods run seeds 0, 1" in proc.stderr
    assert list(ad.read_h5ad(runs / "embedding.h5ad").uns["seeds"]) == [0, 1]
    # every seed again (large_seeds 0): only the seed that did not run trains; the others' settings are unchanged
    every = write_overlay(wf, settings + "  large_spots: 50\n  large_seeds: 0\n", "every.yaml")
    plan = run_snakemake(wf, "-n", target, "--configfile", str(every))
    assert planned_train_jobs(plan.stdout) == ["gen/senca_rna/seed2"]
