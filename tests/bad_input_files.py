"""Small input files for the bad-input tests (tests/test_bad_input_*.py), and a Snakemake runner.

A tiny legacy-ST section: an ``nx`` × ``ny`` lattice of spots, three regions
in vertical bands, each with its own marker genes, so that clustering and
evaluation have something to find; pixel coordinates 20 px apart, inside a
small H&E-like PNG.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from workflow_copy import copy_workflow, run_snakemake, write_overlay

REGIONS = ("tumour", "stroma", "immune")
PITCH = 20.0
OFFSET = 30.0


def section_tables(nx: int = 9, ny: int = 8, n_genes: int = 60, seed: int = 0):
    """(counts, spots, labels) DataFrames of a tiny section in the HER2ST layout."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(nx), np.arange(ny), indexing="xy")
    xs, ys = xs.ravel(), ys.ravel()
    region = np.minimum(xs * len(REGIONS) // nx, len(REGIONS) - 1)
    rate = np.full((len(xs), n_genes), 4.0)
    per = n_genes // (2 * len(REGIONS))
    for r in range(len(REGIONS)):
        rate[region == r, r * per : (r + 1) * per] = 30.0
    counts = rng.poisson(rate)
    ids = [f"{x}x{y}" for x, y in zip(xs, ys)]
    counts_df = pd.DataFrame(counts, index=ids, columns=[f"GENE{g:03d}" for g in range(n_genes)])
    spots_df = pd.DataFrame(
        {
            "x": xs,
            "y": ys,
            "new_x": xs,
            "new_y": ys,
            "pixel_x": OFFSET + PITCH * xs,
            "pixel_y": OFFSET + PITCH * ys,
            "selected": 1,
        }
    )
    labels_df = pd.DataFrame({"x": xs, "y": ys, "label": [REGIONS[r] for r in region]})
    return counts_df, spots_df, labels_df


def write_counts(path: Path, counts: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wt") as fh:
            counts.to_csv(fh, sep="\t")
    else:
        counts.to_csv(path, sep="\t")
    return path


def write_section(
    folder: Path,
    nx: int = 9,
    ny: int = 8,
    labels: bool = True,
    image: bool = True,
    seed: int = 0,
) -> dict[str, Path]:
    """Write counts.tsv.gz, spots.tsv, (labels.tsv, image.png) into ``folder``; return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts, spots, lab = section_tables(nx, ny, seed=seed)
    files = {"counts": write_counts(folder / "counts.tsv.gz", counts), "spots": folder / "spots.tsv"}
    spots.to_csv(files["spots"], sep="\t", index=False)
    if labels:
        files["labels"] = folder / "labels.tsv"
        lab.to_csv(files["labels"], sep="\t", index=False)
    if image:
        files["image"] = folder / "image.png"
        w = int(OFFSET * 2 + PITCH * nx)
        h = int(OFFSET * 2 + PITCH * ny)
        yy, xx = np.mgrid[0:h, 0:w]
        rgb = np.stack([200 + 0 * xx, (xx * 3) % 200, (yy * 3) % 200], axis=2).astype(np.uint8)
        Image.fromarray(rgb).save(files["image"])
    return files


# --- the workflow ------------------------------------------------------------------------------

SHEET_COLUMNS = ("sample", "dataset", "counts", "spots", "labels", "image", "n_clusters")


def sheet_text(rows: list[dict[str, str]]) -> str:
    """A sample sheet with the columns the rows use (her2st-dataset rows pointing at user files)."""
    cols = [c for c in SHEET_COLUMNS if any(c in r for r in rows) or c in ("sample", "dataset")]
    lines = ["\t".join(cols)] + ["\t".join(str(r.get(c, "")) for c in cols) for r in rows]
    return "\n".join(lines) + "\n"


def workflow(dest: Path) -> Path:
    """A copy of the workflow in ``dest``, able to parse even before every rule file exists."""
    wf = copy_workflow(dest)
    for name in ("features.smk", "train.smk"):  # written by another engineer; not needed for rna_pca
        if not (wf / "rules" / name).exists():
            (wf / "rules" / name).write_text("")
    return wf


def overlay(wf: Path, sheet: str, extra: str = "", name: str = "bad_input.yaml") -> Path:
    """Sheet + a reduced config: rna_pca only (no training); ``extra`` YAML is appended."""
    (wf / "config" / "bad_input_samples.tsv").write_text(sheet)
    text = (
        "samples: config/bad_input_samples.tsv\n"
        "methods:\n  with_image: [rna_pca]\n  without_image: [rna_pca]\n"
        "tiling:\n  patch_px: 32\n  neighbour_degree: 3\n" + extra
    )
    return write_overlay(wf, text, name=name)


def snakemake(wf: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 ARGS`` in ``wf``; never raises on failure (tests look at the exit status)."""
    return run_snakemake(wf, *args, check=False, timeout=timeout)


def start_snakemake(wf: Path, *args: str, cores: int = 2) -> subprocess.Popen:
    """``snakemake --cores N ARGS`` in ``wf``, started and not waited for (its output in one pipe).

    It runs in its own process group, so that a kill reaches snakemake and its jobs.
    """
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", "--cores", str(cores), *args],
        cwd=wf,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def temp_files(root: Path) -> list[Path]:
    """Leftovers of senca_st.io.atomic (``.<name>.<random>.tmp<suffix>``) under ``root``."""
    return [p for p in Path(root).rglob(".*") if ".tmp" in p.name and p.is_file()]


def terminal(proc: subprocess.CompletedProcess) -> str:
    """What the user saw: Snakemake writes its log to stdout or stderr depending on the terminal."""
    return proc.stdout + proc.stderr


def error_lines(text: str, needle: str) -> list[str]:
    """Lines of ``text`` containing ``needle``."""
    return [line for line in text.splitlines() if needle in line]


def gradient(h: int = 120, w: int = 160) -> np.ndarray:
    """An RGB test image whose every pixel says where it is (so a window's position can be checked)."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx % 256, yy % 256, (xx + yy) % 256], axis=2).astype(np.uint8)


def write_pyramidal_tiff(path: Path, arr: np.ndarray) -> Path:
    """A tiled BigTIFF with the full-resolution level and a 4x smaller one, as slide scanners write."""
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(arr, tile=(128, 128), subifds=1, photometric="rgb")
        tw.write(arr[::4, ::4], tile=(128, 128), photometric="rgb", subfiletype=1)
    return path
