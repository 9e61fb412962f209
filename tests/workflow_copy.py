"""A fresh copy of the workflow in a temp directory, as a user's clone would be.

Whole-pipeline tests run Snakemake there so they never touch the repository's
own results/, and so every run starts from nothing, like a new user's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PARTS = ["Snakefile", "rules", "workflow", "config", "envs", "profiles", "resources/her2st_manifest.tsv", "src"]


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow's files (not results, logs or .snakemake) into ``dest``; return it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = REPO / part
        if not src.exists():
            continue
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, target)
    return dest


def write_overlay(dest: Path, text: str, name: str = "overlay.yaml") -> Path:
    """Write a config overlay into the copied workflow and return its path."""
    path = Path(dest) / "config" / name
    path.write_text(text)
    return path


def run_snakemake(wf: Path, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 ARGS`` in ``wf`` with this venv's tools first on PATH.

    ``check``: a failed run raises with the end of what Snakemake printed; tests
    that expect a failure pass ``check=False`` and look at the exit status.
    """
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *args],
        cwd=wf,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc
