"""Issue #4 through Snakemake: bad input fails its job with one line, and nothing partial is left.

One ``--keep-going`` run over several broken sections checks, per section, the
exit status, the one-line message in the terminal and in the job's log, and that
the failed job left no output and no temporary file.  Slow tests: a killed run
finishes cleanly with ``--rerun-incomplete``, and the same config and seed give
the same clusters twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from bad_input_files import (
    error_lines,
    overlay,
    sheet_text,
    start_snakemake,
    temp_files,
    terminal,
    workflow,
    write_section,
)

MESSAGES = {
    # sample: (job log, the one line's text)
    "trunc": ("logs/load_section/trunc.log", "count matrix file is truncated or not valid gzip"),
    "few": ("logs/preprocess/few.log", "only 4 spots remain after filtering; the SENCA-st spot graph links each spot to its 4 nearest"),
    "outside": ("logs/image_features/outside.log", "spot centres lie outside the 60x60 image"),
}


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """One run over five sections: three with bad files, one without its labels file, one to download from nowhere."""
    root = tmp_path_factory.mktemp("broken")
    wf = workflow(root / "wf")
    inp = root / "inputs"
    trunc = write_section(inp / "trunc", image=False)
    data = trunc["counts"].read_bytes()
    trunc["counts"].write_bytes(data[: len(data) // 2])
    few = write_section(inp / "few", nx=2, ny=2, labels=False, image=False)
    outside = write_section(inp / "outside", labels=False)
    from PIL import Image

    Image.new("RGB", (60, 60), "white").save(outside["image"])  # spots reach x = 190
    nolab = write_section(inp / "nolab", labels=False, image=False)
    rows = [
        {"sample": "trunc", "dataset": "her2st", "counts": trunc["counts"], "spots": trunc["spots"], "image": "none"},
        {"sample": "few", "dataset": "her2st", "counts": few["counts"], "spots": few["spots"], "image": "none", "labels": "none"},
        {"sample": "outside", "dataset": "her2st", "counts": outside["counts"], "spots": outside["spots"], "image": outside["image"], "labels": "none"},
        {"sample": "nolab", "dataset": "her2st", "counts": nolab["counts"], "spots": nolab["spots"], "image": "none", "labels": inp / "nolab" / "gone.tsv"},
        {"sample": "A1", "dataset": "her2st", "image": "none"},
    ]
    mirror = root / "empty_mirror"  # a HER2ST mirror without the files: every download fails
    mirror.mkdir()
    # senca_rna in the methods puts the spot graph's k + 1 = 5 spots on every section without an
    # image; only preprocessing is asked of them here, so nothing is trained.
    ov = overlay(
        wf,
        sheet_text(rows),
        f"methods:\n  with_image: [rna_pca]\n  without_image: [senca_rna, rna_pca]\n"
        f"her2st:\n  base_url: {mirror.as_uri()}\n  manifest: resources/her2st_manifest.tsv\n",
    )
    targets = [
        "results/trunc/spots.h5ad",
        "results/few/preprocessed.h5ad",
        "results/outside/image_features.npy",
        "results/nolab/methods/rna_pca/clusters.tsv",
        "results/A1/spots.h5ad",
    ]
    proc = subprocess_snakemake(wf, *targets, "--keep-going", "--configfile", str(ov.relative_to(wf)))
    return wf, proc


def subprocess_snakemake(wf: Path, *args: str) -> subprocess.CompletedProcess:
    from bad_input_files import snakemake

    return snakemake(wf, *args)


def test_broken_run_fails(broken_run):
    wf, proc = broken_run
    assert proc.returncode != 0


@pytest.mark.parametrize("sample", sorted(MESSAGES))
def test_one_line_in_terminal_and_job_log(broken_run, sample):
    wf, proc = broken_run
    log, text = MESSAGES[sample]
    lines = error_lines(terminal(proc), text)
    assert len(lines) == 1, f"expected one line with {text!r}:\n{terminal(proc)[-6000:]}"
    assert " ERROR " in lines[0] and "/inputs/" in lines[0]  # names the user's file
    job_log = (wf / log).read_text()
    assert len(error_lines(job_log, text)) == 1 and "Traceback" not in job_log


def test_failed_jobs_leave_no_output(broken_run):
    wf, _ = broken_run
    assert not (wf / "results/trunc/spots.h5ad").exists()
    assert not (wf / "results/few/preprocessed.h5ad").exists()
    assert (wf / "results/few/spots.h5ad").exists()  # the step before it succeeded
    assert not (wf / "results/outside/image_features.npy").exists()
    assert temp_files(wf / "results") == []


def test_failed_download_leaves_no_file(broken_run):
    wf, proc = broken_run
    assert "download_her2st_file" in terminal(proc)
    assert not (wf / "resources/her2st/data/ST-cnts/A1.tsv.gz").exists()
    assert not (wf / "resources/her2st/data/ST-spotfiles/A1_selection.tsv").exists()
    assert not (wf / "results/A1").exists()
    leftovers = [p for p in (wf / "resources").rglob("*") if p.is_file() and p.name != "her2st_manifest.tsv"]
    assert leftovers == [], leftovers


def test_missing_labels_file_clusters_without_evaluation(broken_run):
    wf, proc = broken_run
    assert len(error_lines(terminal(proc), "labels file") ) >= 1
    assert len(error_lines(terminal(proc), "gone.tsv' does not exist; the section is clustered but not evaluated")) == 1
    clusters = pd.read_csv(wf / "results/nolab/methods/rna_pca/clusters.tsv", sep="\t")
    assert len(clusters) == 72 and clusters["cluster"].nunique() == 5  # cluster.default_n_clusters
    assert not (wf / "results/nolab/methods/rna_pca/metrics.tsv").exists()
    assert "no pathologist labels; the section is clustered but not evaluated" in (wf / "logs/load_section/nolab.log").read_text()


# --- a killed run, rerun ---------------------------------------------------------------------------




@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_reruns_cleanly(tmp_path, sig):
    wf = workflow(tmp_path / "wf")
    f = write_section(tmp_path / "inputs" / "s1", image=False)
    rows = [{"sample": "s1", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"], "labels": f["labels"], "image": "none"}]
    ov = str(overlay(wf, sheet_text(rows)).relative_to(wf))
    target = "results/s1/methods/rna_pca/metrics.tsv"
    proc = start_snakemake(wf, target, "--configfile", ov)
    job_log = wf / "logs/preprocess/s1.log"  # written as soon as the preprocess job starts
    deadline = time.monotonic() + 120
    while not job_log.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"snakemake ended before the job started:\n{proc.communicate()[0][-4000:]}"
    os.killpg(proc.pid, sig)
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode != 0
    time.sleep(0.5)  # let any orphaned job of the group finish dying
    assert (wf / "results/s1/spots.h5ad").exists(), out[-3000:]  # finished before the kill
    assert not (wf / "results/s1/preprocessed.h5ad").exists(), "the killed job's output exists"
    assert temp_files(wf / "results") == [], temp_files(wf / "results")

    from bad_input_files import snakemake

    if sig == signal.SIGKILL:  # snakemake had no chance to release its lock
        unlock = snakemake(wf, target, "--unlock", "--configfile", ov)
        assert unlock.returncode == 0, terminal(unlock)[-3000:]
    rerun = snakemake(wf, target, "--rerun-incomplete", "--configfile", ov)
    assert rerun.returncode == 0, terminal(rerun)[-4000:]
    assert (wf / target).exists() and temp_files(wf / "results") == []
    again = snakemake(wf, target, "-n", "--configfile", ov)
    assert "Nothing to be done" in terminal(again), terminal(again)[-3000:]


# --- determinism --------------------------------------------------------------------------------


def _has_train_rule() -> bool:
    train = Path(__file__).resolve().parents[1] / "rules" / "train.smk"
    return train.exists() and "rule train" in train.read_text()


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_clusters(tmp_path):
    """The demo twice from nothing on CPU gives identical clusters: SENCA-st (RNA branch) and rna_pca.

    Without the train rule (an older checkout), rna_pca alone on a tiny section.
    """
    from bad_input_files import snakemake

    if _has_train_rule():
        methods = ["senca_rna", "rna_pca"]
        rows = [{"sample": "demo", "dataset": "demo", "image": "none"}]
        sample = "demo"
    else:
        methods = ["rna_pca"]
        f = write_section(tmp_path / "inputs" / "s1", image=False)
        rows = [{"sample": "s1", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"], "labels": f["labels"], "image": "none"}]
        sample = "s1"
    targets = [f"results/{sample}/methods/{m}/clusters.tsv" for m in methods]
    results = []
    for run in ("first", "second"):
        wf = workflow(tmp_path / run)
        ov = overlay(
            wf,
            sheet_text(rows),
            f"methods:\n  with_image: {methods}\n  without_image: {methods}\n"
            "train:\n  epochs: 2\n  seed: 0\n  device: cpu\n",
        )
        proc = snakemake(wf, *targets, "--configfile", str(ov.relative_to(wf)))
        assert proc.returncode == 0, terminal(proc)[-4000:]
        results.append([pd.read_csv(wf / t, sep="\t") for t in targets])
    for target, first, second in zip(targets, *results):
        assert first["cluster"].nunique() > 1, target
        pd.testing.assert_frame_equal(first, second, obj=target)
