"""A fresh copy of the workflow in a temp directory, as a user's clone would be.

Whole-pipeline tests run Snakemake there so they never touch the repository's
own results/, and so every run starts from nothing, like a new user's.
"""

from __future__ import annotations

import shutil
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
