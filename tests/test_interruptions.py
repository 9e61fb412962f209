"""Interrupted and overlapping runs, through Snakemake: what the docs promise a user after a kill, a second run, a full disk.

- A run killed with SIGKILL while a seed trains, then ``--unlock`` and
  ``--rerun-incomplete`` as docs/troubleshooting.md says, ends with the same
  ``ari.tsv`` and clusters as a run never interrupted.
- A second run started in the same folder while the first works is refused
  with Snakemake's lock message, and the first finishes unharmed.
- A write that fills the disk leaves neither the output nor a temporary file
  (a 64 KiB tmpfs; skipped where this machine cannot mount one).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bad_input_files import overlay, sheet_text, snakemake, start_snakemake, temp_files, terminal, workflow, write_section
from senca_st.io.atomic import atomic_path
from senca_st.io.store import write_npy

METHODS = "methods:\n  with_image: [senca_rna, rna_pca]\n  without_image: [senca_rna, rna_pca]\n"
TRAIN = "train:\n  seeds: [0, 1]\n  epochs: 30\n  device: cpu\n"
TARGET = "results/metrics/ari.tsv"




def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, f"snakemake ended before {path.name} appeared:\n{proc.communicate()[0][-4000:]}"
    assert path.exists(), f"{path} did not appear within {timeout} s"


def _section_run(root: Path, name: str) -> tuple[Path, str]:
    wf = workflow(root / name)
    f = write_section(root / "inputs" / "s1", image=False)
    rows = [{"sample": "s1", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"], "labels": f["labels"], "image": "none"}]
    return wf, str(overlay(wf, sheet_text(rows), METHODS + TRAIN).relative_to(wf))


def _results(wf: Path) -> dict[str, pd.DataFrame]:
    """ari.tsv without its timing columns, and every method's clusters."""
    ari = pd.read_csv(wf / TARGET, sep="\t")
    ari = ari.drop(columns=[c for c in ari.columns if "second" in c])
    out = {"ari.tsv": ari.sort_values(list(ari.columns[:2])).reset_index(drop=True)}
    for p in sorted((wf / "results/s1/methods").glob("*/clusters.tsv")):
        out[str(p.relative_to(wf))] = pd.read_csv(p, sep="\t")
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, pd.DataFrame]:
    wf, ov = _section_run(tmp_path_factory.mktemp("interrupt"), "whole")
    proc = snakemake(wf, TARGET, "--configfile", ov)
    assert proc.returncode == 0, terminal(proc)[-4000:]
    return _results(wf)


@pytest.mark.slow
def test_sigkill_during_training_then_rerun_gives_the_uninterrupted_results(tmp_path, uninterrupted):
    wf, ov = _section_run(tmp_path, "killed")
    proc = start_snakemake(wf, TARGET, "--configfile", ov, cores=1)
    _wait_for(wf / "logs/train/s1/senca_rna/seed1.log", proc)  # the second seed is training
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    time.sleep(0.5)
    assert not (wf / "results/s1/methods/senca_rna/seed1/embedding.h5ad").exists(), "the killed seed's output exists"

    unlock = snakemake(wf, TARGET, "--unlock", "--configfile", ov)
    assert unlock.returncode == 0, terminal(unlock)[-3000:]
    rerun = snakemake(wf, TARGET, "--rerun-incomplete", "--configfile", ov)
    assert rerun.returncode == 0, terminal(rerun)[-4000:]
    assert temp_files(wf / "results") == [], temp_files(wf / "results")
    got = _results(wf)
    assert got.keys() == uninterrupted.keys()
    for name, frame in uninterrupted.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)


@pytest.mark.slow
def test_a_second_run_in_the_same_folder_is_refused_and_the_first_is_unharmed(tmp_path, uninterrupted):
    wf, ov = _section_run(tmp_path, "twice")
    first = start_snakemake(wf, TARGET, "--configfile", ov, cores=1)
    _wait_for(wf / "logs/train/s1/senca_rna/seed0.log", first)
    second = snakemake(wf, TARGET, "--configfile", ov)
    assert second.returncode != 0
    assert "cannot be locked" in terminal(second), terminal(second)[-3000:]
    out = first.communicate(timeout=600)[0]
    assert first.returncode == 0, out[-4000:]
    got = _results(wf)
    for name, frame in uninterrupted.items():
        pd.testing.assert_frame_equal(got[name], frame, obj=name)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs mounted under tmp_path; skip where this machine cannot mount one."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or proc.returncode})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_a_full_disk_leaves_no_half_file(small_disk):
    dest = small_disk / "embedding.npy"
    with pytest.raises(OSError):  # numpy reports a short write; a plain write says ENOSPC
        write_npy(np.zeros(1_000_000), dest)  # 8 MB onto 64 KiB
    assert not dest.exists()
    with pytest.raises(OSError) as err:
        with atomic_path(small_disk / "counts.tsv") as tmp:
            tmp.write_bytes(b"0\t" * 100_000)
    assert err.value.errno == errno.ENOSPC
    assert list(small_disk.iterdir()) == [], list(small_disk.iterdir())
    with atomic_path(dest) as tmp:  # the disk is usable again: nothing was left behind to fill it
        np.save(tmp, np.zeros(100))
    assert np.load(dest).shape == (100,)
