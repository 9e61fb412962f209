"""The embedded demo section: a synthetic tumour whose five regions need RNA *and* image.

No network is needed to see the pipeline work, so the pipeline generates its
own section in the legacy ST layout (count table, spot file, H&E-like image,
pathologist labels) and runs it through the same readers as HER2ST.

The design makes fusion necessary, which is the point of SENCA-st:
- *tumour core* and *tumour edge* look the same in the image (same nuclei and
  stain) but differ in RNA (an invasion programme at the edge);
- *immune infiltrate* and *cancer in situ* share one RNA programme but look
  different (dense small lymphocyte nuclei vs. ducts with lumens);
- *stroma* differs in both.
So RNA alone merges immune/in situ, the image alone merges core/edge, and
counts are noisy enough per spot that neighbourhood context pays off.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from senca_st.defaults import default
from senca_st.io.atomic import atomic_path

REGIONS = ["tumour core", "tumour edge", "stroma", "immune infiltrate", "cancer in situ"]
# Which RNA programme each region expresses: immune infiltrate and in situ share one.
RNA_PROGRAMME = {"tumour core": 0, "tumour edge": 1, "stroma": 2, "immune infiltrate": 3, "cancer in situ": 3}


@dataclass(frozen=True)
class Look:
    """How a region looks in H&E: stain background and nuclei."""

    background: tuple[int, int, int]
    nuclei_per_kpx: float  # nuclei per 1000 px²
    radius: float
    nucleus: tuple[int, int, int]
    lumens: bool = False


# tumour core and tumour edge share a look on purpose.
LOOKS = {
    "tumour core": Look((222, 150, 190), 3.2, 4.0, (88, 40, 120)),
    "tumour edge": Look((222, 150, 190), 3.2, 4.0, (88, 40, 120)),
    "stroma": Look((246, 186, 206), 0.6, 2.5, (120, 70, 150)),
    "immune infiltrate": Look((214, 160, 205), 9.0, 2.2, (55, 25, 95)),
    "cancer in situ": Look((240, 205, 222), 2.0, 3.5, (110, 60, 140), lumens=True),
}


#: A serial demo section (``section`` > 0) has this share of the first one's library size
#: and each gene's level shifted by a normal draw of this sd (log scale).
SERIAL_DEPTH = 0.5
SERIAL_BATCH_SD = 0.3

#: gzip level of the count table: 6 (zlib's default) is 4x faster than gzip.open's 9 for 2% more bytes.
COMPRESSION = 6

#: zlib level of the H&E PNG: level 1 writes the 100k-spot demo's 170-megapixel image 4x faster than PIL's 6.
PNG_COMPRESSION = 1

#: Spots whose counts are drawn and written at once (bounds the generator's memory at any size).
CHUNK_SPOTS = 50_000

#: Columns / rows of the default lattice (about 850 spots under tissue); ``n_spots`` keeps its shape.
DEFAULT_COLS, DEFAULT_ROWS = 36, 30

#: Share of the n_cols x n_rows lattice that the elliptical piece of tissue keeps.
TISSUE_SHARE = 0.8


def lattice_for(n_spots: int) -> tuple[int, int]:
    """Columns and rows of the default-shaped lattice with about ``n_spots`` spots under tissue.

    Starts from the ellipse's share of the rectangle and corrects by the count
    actually kept, so the section has within a fraction of a percent of
    ``n_spots`` spots (what ``demo.n_spots`` asks for: an HD-sized section).
    """
    if n_spots < 50:
        raise ValueError(f"demo.n_spots is {n_spots}; a demo section needs at least 50 spots")
    aspect = DEFAULT_COLS / DEFAULT_ROWS
    cells = n_spots / TISSUE_SHARE
    for _ in range(3):
        rows = max(4, int(round(np.sqrt(cells / aspect))))
        cols = max(4, int(round(rows * aspect)))
        cells *= n_spots / len(_lattice(cols, rows, 1.0, 0.0))
    # the count moves in steps of a row or column: take the nearest of the neighbouring shapes
    shapes = [(cols + dc, rows + dr) for dc in range(-2, 3) for dr in range(-2, 3)]
    cols, rows = min(shapes, key=lambda cr: abs(len(_lattice(cr[0], cr[1], 1.0, 0.0)) - n_spots))
    return cols, rows


def _region_map(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Region index for normalised positions (u, v in [-1, 1]); boundaries are wavy, like tissue."""
    wobble = 0.06 * np.sin(5 * np.arctan2(v, u - 0.1)) + 0.03 * np.sin(3 * u + 2 * v)
    d = np.hypot((u - 0.1) / 1.0, v / 0.9) + wobble
    region = np.where(u < -0.15, 2, np.where(v < 0, 3, 4))
    region = np.where(d < 0.55, 1, region)
    region = np.where(d < 0.32, 0, region)
    return region


def _lattice(n_cols: int, n_rows: int, pitch: float, margin: float) -> pd.DataFrame:
    """Visium-like hexagonal lattice cut to an elliptical piece of tissue."""
    rows, cols = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    x = 2 * cols + (rows % 2)  # Visium's doubled column index
    y = rows
    px = margin + x * pitch / 2
    py = margin + y * pitch * np.sqrt(3) / 2
    u = (x / (2 * n_cols)) * 2 - 1
    v = (y / n_rows) * 2 - 1
    keep = (u / 1.02) ** 2 + (v / 1.05) ** 2 <= 1.0
    return pd.DataFrame(
        {"x": x[keep], "y": y[keep], "pixel_x": px[keep], "pixel_y": py[keep], "u": u[keep], "v": v[keep]}
    )


def _counts(
    region: np.ndarray,
    rng: np.random.Generator,
    n_genes: int,
    markers: int,
    section_rng: np.random.Generator | None = None,
    depth: float = 1.0,
    batch_sd: float = 0.0,
) -> Iterator[np.ndarray]:
    """Negative-binomial counts, in chunks of rows: shared baseline, region programmes, per-spot depth.

    ``rng`` draws the tissue's biology (baseline, programmes); ``section_rng``
    (default ``rng``) the section's own draw: sampling noise, ``depth`` (library
    size relative to the first section) and a per-gene shift of sd ``batch_sd``.
    """
    n = len(region)
    base = rng.normal(0.0, 1.0, n_genes) - 1.0
    programmes = np.zeros((4, n_genes))
    order = rng.permutation(n_genes)
    for p in range(4):
        genes = order[p * markers : (p + 1) * markers]
        programmes[p, genes] = rng.uniform(0.6, 1.3, markers)
    rng = section_rng or rng
    if batch_sd:
        base = base + rng.normal(0.0, batch_sd, n_genes)
    base = base + np.log(depth)
    prog = np.array([RNA_PROGRAMME[REGIONS[r]] for r in region])
    theta = 4.0
    # rows in chunks, so a section of any size needs memory for one chunk (one chunk below
    # CHUNK_SPOTS spots: the draws, and so the default demo, are those of a single pass)
    for start in range(0, n, CHUNK_SPOTS):
        rows = prog[start : start + CHUNK_SPOTS]
        log_mu = base[None, :] + programmes[rows] + rng.normal(0, 0.3, (len(rows), 1))
        mu = np.exp(log_mu) * 1.5
        lam = rng.gamma(theta, mu / theta)
        yield rng.poisson(lam).astype(np.int32)


#: Image rows painted at once: bounds the generator's memory at any image size (one strip for the
#: default demo, whose draws are those of a single pass).
STRIP_ROWS = 2048


def _region_rows(rows: slice, w: int, geometry: tuple[float, float, int, int]) -> np.ndarray:
    """Region index of every pixel of image rows ``rows`` (-1: no tissue); ``geometry``: margin, pitch, columns, rows."""
    margin, pitch, n_cols, n_rows = geometry
    py, px = np.mgrid[rows, 0:w].astype(np.float32)
    u = ((px - margin) / (pitch / 2) / (2 * n_cols)) * 2 - 1
    v = ((py - margin) / (pitch * np.sqrt(3) / 2) / n_rows) * 2 - 1
    region = _region_map(u, v)
    return np.where((u / 1.08) ** 2 + (v / 1.1) ** 2 <= 1.0, region, -1)


def _paint(shape: tuple[int, int], geometry: tuple[float, float, int, int], rng: np.random.Generator) -> np.ndarray:
    """An H&E-like RGB image: stain per region, nuclei discs, lumens for ducts, tissue-free margin.

    Painted in strips of STRIP_ROWS rows, twice: first every strip's stain, then
    its lumens and nuclei (which may reach into the next strip), so only the
    uint8 image, its int8 region map and one strip's floats are ever held.
    """
    h, w = shape
    image = np.full((h, w, 3), 250, dtype=np.uint8)
    regions = np.empty((h, w), dtype=np.int8)
    strips = [slice(s, min(s + STRIP_ROWS, h)) for s in range(0, h, STRIP_ROWS)]
    for rows in strips:
        region_px = regions[rows] = _region_rows(rows, w, geometry)
        strip = np.full((rows.stop - rows.start, w, 3), 250, dtype=np.float32)
        tissue = region_px >= 0
        for r, name in enumerate(REGIONS):
            strip[region_px == r] = LOOKS[name].background
        strip[tissue] += rng.normal(0, 6, (int(tissue.sum()), 3))
        image[rows] = np.clip(strip, 0, 255).astype(np.uint8)
        del strip
    yy, xx = np.mgrid[-8:9, -8:9]
    for rows in strips:
        region_px = regions[rows]
        for r, name in enumerate(REGIONS):
            look = LOOKS[name]
            ys, xs = np.nonzero(region_px == r)
            ys = ys + rows.start
            if len(ys) == 0:
                continue
            if look.lumens:
                n_lumen = max(1, int(len(ys) / 3000))
                pick = rng.choice(len(ys), n_lumen, replace=False)
                for y, x in zip(ys[pick], xs[pick]):
                    rad = rng.uniform(6, 11)
                    y0, y1, x0, x1 = max(y - 12, 0), min(y + 13, h), max(x - 12, 0), min(x + 13, w)
                    gy, gx = np.mgrid[y0:y1, x0:x1]
                    disc = (gy - y) ** 2 + (gx - x) ** 2 <= rad**2
                    image[y0:y1, x0:x1][disc] = (252, 246, 250)
                    ring = ((gy - y) ** 2 + (gx - x) ** 2 <= (rad + 3) ** 2) & ~disc
                    image[y0:y1, x0:x1][ring] = look.nucleus
            n_nuclei = int(len(ys) * look.nuclei_per_kpx / 1000)
            pick = rng.choice(len(ys), n_nuclei, replace=True)
            for y, x in zip(ys[pick], xs[pick]):
                rad = look.radius * rng.uniform(0.7, 1.3)
                disc = yy**2 + xx**2 <= rad**2
                y0, x0 = y - 8, x - 8
                if y0 < 0 or x0 < 0 or y0 + 17 > h or x0 + 17 > w:
                    continue
                colour = np.asarray(look.nucleus) + rng.normal(0, 8, 3)
                image[y0 : y0 + 17, x0 : x0 + 17][disc] = np.clip(colour, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(0.8)))


def demo_paths(out_dir: str | Path) -> dict[str, Path]:
    """The files :func:`make_demo_section` writes into ``out_dir``, by role."""
    out_dir = Path(out_dir)
    names = {"counts": "counts.tsv.gz", "spots": "spots.tsv", "image": "image.png", "labels": "labels.tsv"}
    return {role: out_dir / name for role, name in names.items()}


def make_demo_section(
    out_dir: str | Path,
    seed: int = default("demo.seed"),
    n_cols: int = DEFAULT_COLS,
    n_rows: int = DEFAULT_ROWS,
    pitch: float = default("demo.pitch_px"),
    n_genes: int = 800,
    markers: int = 30,
    section: int = 0,
    n_spots: int | None = None,
) -> dict[str, Path]:
    """Write a demo section in the ST layout to ``out_dir``; return its file paths.

    Files: ``counts.tsv.gz`` (rows ``{x}x{y}``), ``spots.tsv`` (x y new_x new_y
    pixel_x pixel_y selected), ``image.png`` and ``labels.tsv`` (x y pixel_x
    pixel_y label).  Same seed, same files.  ``section`` > 0: a serial section
    of the same tumour (same regions, image and gene programmes), with its own
    sampling noise, SERIAL_DEPTH of the first section's depth and a per-gene
    shift (SERIAL_BATCH_SD): what a group's joint analysis must see through.
    ``n_spots``: a section of about that many spots (the lattice's shape kept,
    ``n_cols``/``n_rows`` ignored): with a smaller ``pitch`` (image pixels
    between spots), an HD-sized section whose image stays a manageable size.
    """
    if n_spots:
        n_cols, n_rows = lattice_for(int(n_spots))
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    margin = 2 * pitch
    spots = _lattice(n_cols, n_rows, pitch, margin)
    spots["region"] = _region_map(spots["u"].to_numpy(), spots["v"].to_numpy())
    ids = spots["x"].astype(str) + "x" + spots["y"].astype(str)

    w = int(margin * 2 + n_cols * pitch + pitch)
    h = int(margin * 2 + n_rows * pitch * np.sqrt(3) / 2 + pitch)
    image = _paint((h, w), (margin, pitch, n_cols, n_rows), rng)

    serial = {}
    if section:
        serial = {"section_rng": np.random.default_rng([seed, section]), "depth": SERIAL_DEPTH, "batch_sd": SERIAL_BATCH_SD}
    chunks = _counts(spots["region"].to_numpy(), rng, n_genes, markers, **serial)
    genes = [f"GENE{i:04d}" for i in range(n_genes)]
    paths = demo_paths(out_dir)

    with atomic_path(paths["counts"]) as tmp, gzip.open(tmp, "wt", compresslevel=COMPRESSION) as fh:
        start = 0
        for chunk in chunks:
            rows = ids.iloc[start : start + len(chunk)]
            pd.DataFrame(chunk, index=rows, columns=genes).to_csv(fh, sep="\t", header=start == 0)
            start += len(chunk)
    spot_file = pd.DataFrame(
        {"x": spots["x"], "y": spots["y"], "new_x": spots["x"], "new_y": spots["y"], "pixel_x": spots["pixel_x"], "pixel_y": spots["pixel_y"], "selected": 1}
    )
    with atomic_path(paths["spots"]) as tmp:
        spot_file.to_csv(tmp, sep="\t", index=False)
    with atomic_path(paths["image"]) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", compress_level=PNG_COMPRESSION)
    labels = pd.DataFrame(
        {"x": spots["x"], "y": spots["y"], "pixel_x": spots["pixel_x"], "pixel_y": spots["pixel_y"], "label": [REGIONS[r] for r in spots["region"]]}
    )
    with atomic_path(paths["labels"]) as tmp:
        labels.to_csv(tmp, sep="\t", index=False)
    return paths
