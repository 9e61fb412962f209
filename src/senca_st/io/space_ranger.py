"""Write a generated section in 10x Space Ranger's folder layouts (Visium 1.x, 2.x+, CytAssist, Visium HD).

Readers must accept each layout as Space Ranger publishes it, and tests and
benchmarks need such folders without 10x's files.  The section is the demo's
synthetic tumour (:mod:`senca_st.io.demo`: its counts, regions and H&E), written
as a Space Ranger run would: a 10x HDF5 feature-barcode matrix (genes x
barcodes, CSC), the positions file of that version, ``scalefactors_json.json``
and the hires PNG, plus a barcode label file.

Layouts (``LAYOUTS``):

- ``1.x``: ``outs/spatial/tissue_positions_list.csv``, no header;
- ``2.x``: ``outs/spatial/tissue_positions.csv`` with a header (Space Ranger 2.0 on);
- ``cytassist``: as 2.x, plus the CytAssist capture image ``spatial/cytassist_image.tiff``;
- ``hd``: Visium HD, ``outs/binned_outputs/square_{008,016}um/`` each with its matrix,
  ``spatial/tissue_positions.parquet`` and scale factors with ``microns_per_pixel``
  and ``bin_size_um``.  The demo lattice stands for the 16 µm bins; the 8 µm
  binning splits each of them into four bins, each with a quarter of the counts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from PIL import Image

from senca_st.io.atomic import atomic_path
from senca_st.io.demo import make_demo_section

LAYOUTS = ("1.x", "2.x", "cytassist", "hd")
POSITION_COLUMNS = ["barcode", "in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]
#: Hires PNG side relative to the full-resolution image (Space Ranger's is ~2000 px wide).
HIRES_SCALE = 0.5
#: Full-resolution pixels are this many µm (Visium HD's microns_per_pixel is of this order).
MICRONS_PER_PIXEL = 0.4


def barcode(i: int) -> str:
    """A Visium-like spot barcode (16 nucleotides, ``-1``), unique per index."""
    digits = np.base_repr(i, 4).rjust(16, "0")
    return "".join("ACGT"[int(d)] for d in digits) + "-1"


def hd_barcode(bin_um: int, row: int, col: int) -> str:
    return f"s_{bin_um:03d}um_{row:05d}_{col:05d}-1"


def write_matrix(path: Path, counts: np.ndarray, barcodes: list[str], genes: list[str]) -> None:
    """A 10x v3 feature-barcode HDF5 matrix (what ``scanpy.read_10x_h5`` reads)."""
    m = sp.csc_matrix(np.asarray(counts, dtype=np.int32).T)  # genes x barcodes, as 10x stores it
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        g = f.create_group("matrix")
        g["barcodes"] = np.array(barcodes, dtype="S")
        g["data"], g["indices"], g["indptr"] = m.data, m.indices, m.indptr
        g["shape"] = np.array(m.shape, dtype=np.int32)
        feats = g.create_group("features")
        feats["id"] = np.array([f"ENSG{i:011d}" for i in range(len(genes))], dtype="S")
        feats["name"] = np.array(genes, dtype="S")
        feats["feature_type"] = np.array(["Gene Expression"] * len(genes), dtype="S")
        feats["genome"] = np.array(["GRCh38"] * len(genes), dtype="S")


def _write_spatial(spatial: Path, positions: pd.DataFrame, image: np.ndarray, layout: str, extra_scales: dict) -> None:
    spatial.mkdir(parents=True, exist_ok=True)
    if layout == "1.x":
        with atomic_path(spatial / "tissue_positions_list.csv") as tmp:
            positions[POSITION_COLUMNS].to_csv(tmp, header=False, index=False)
    elif layout == "hd":
        with atomic_path(spatial / "tissue_positions.parquet") as tmp:
            positions[POSITION_COLUMNS].to_parquet(tmp, index=False)
    else:
        with atomic_path(spatial / "tissue_positions.csv") as tmp:
            positions[POSITION_COLUMNS].to_csv(tmp, index=False)
    h, w = image.shape[:2]
    hires = Image.fromarray(image).resize((max(1, int(w * HIRES_SCALE)), max(1, int(h * HIRES_SCALE))))
    with atomic_path(spatial / "tissue_hires_image.png") as tmp:
        hires.save(tmp, format="PNG")
    scales = {
        "tissue_hires_scalef": HIRES_SCALE,
        "tissue_lowres_scalef": HIRES_SCALE / 3.3,
        "spot_diameter_fullres": 89.4,
        "fiducial_diameter_fullres": 144.4,
        **extra_scales,
    }
    with atomic_path(spatial / "scalefactors_json.json") as tmp:
        Path(tmp).write_text(json.dumps(scales, indent=2))
    if layout == "cytassist":
        with atomic_path(spatial / "cytassist_image.tiff") as tmp:
            hires.convert("L").save(tmp, format="TIFF")


def write_space_ranger(out_dir: str | Path, layout: str = "2.x", seed: int = 0, **demo) -> dict[str, Path]:
    """Write the demo section as Space Ranger ``layout`` under ``out_dir`` (the ``outs/`` folder).

    Returns ``outs`` and ``labels`` (a ``barcode<TAB>label`` file of the spots,
    for the 16 µm bins in ``hd``).  ``demo`` goes to :func:`senca_st.io.demo.make_demo_section`
    (``n_cols``, ``n_rows``, ``n_genes``...); a spot outside the tissue is
    written too, with ``in_tissue`` 0, as Space Ranger lists every spot.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown Space Ranger layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_demo_section(tmp, seed=seed, **demo)
        counts = pd.read_csv(files["counts"], sep="\t", index_col=0)
        spots = pd.read_csv(files["spots"], sep="\t")
        labels = pd.read_csv(files["labels"], sep="\t")
        image = np.asarray(Image.open(files["image"]).convert("RGB"))
    ids = spots["x"].astype(str) + "x" + spots["y"].astype(str)
    counts = counts.loc[ids]
    genes = list(counts.columns)
    X = counts.to_numpy()
    row, col = spots["y"].to_numpy(), spots["x"].to_numpy()
    if layout == "hd":
        bin16 = [hd_barcode(16, r, c) for r, c in zip(row, col)]
        folders = {16: (bin16, X, row, col, spots["pixel_y"].to_numpy(), spots["pixel_x"].to_numpy())}
        # 8 µm: four bins per 16 µm bin, a quarter of its counts each (multinomial split)
        rng = np.random.default_rng(seed)
        quarters = np.moveaxis(rng.multinomial(X, [0.25] * 4), -1, 0)
        offsets = [(-0.25, -0.25), (-0.25, 0.25), (0.25, -0.25), (0.25, 0.25)]
        step = float(np.median(np.diff(np.unique(spots["pixel_x"])))) if len(spots) > 1 else 1.0
        bc8, X8, r8, c8, py8, px8 = [], [], [], [], [], []
        for q, (dy, dx) in enumerate(offsets):
            r_q, c_q = 2 * row + (dy > 0), 2 * col + (dx > 0)
            bc8 += [hd_barcode(8, r, c) for r, c in zip(r_q, c_q)]
            X8.append(quarters[q])
            r8.append(r_q)
            c8.append(c_q)
            py8.append(spots["pixel_y"].to_numpy() + dy * step)
            px8.append(spots["pixel_x"].to_numpy() + dx * step)
        folders[8] = (bc8, np.vstack(X8), np.concatenate(r8), np.concatenate(c8), np.concatenate(py8), np.concatenate(px8))
        outs = {}
        for bin_um, (bcs, mat, r, c, py, px) in folders.items():
            folder = out_dir / "binned_outputs" / f"square_{bin_um:03d}um"
            folder.mkdir(parents=True, exist_ok=True)
            write_matrix(folder / "filtered_feature_bc_matrix.h5", mat, bcs, genes)
            positions = pd.DataFrame(
                {"barcode": bcs, "in_tissue": 1, "array_row": r, "array_col": c, "pxl_row_in_fullres": py, "pxl_col_in_fullres": px}
            )
            scales = {"microns_per_pixel": MICRONS_PER_PIXEL, "bin_size_um": float(bin_um), "regist_target_img_scalef": HIRES_SCALE}
            _write_spatial(folder / "spatial", positions, image, layout, scales)
            outs[bin_um] = folder
        barcodes = bin16
    else:
        barcodes = [barcode(i) for i in range(len(spots))]
        out_dir.mkdir(parents=True, exist_ok=True)
        write_matrix(out_dir / "filtered_feature_bc_matrix.h5", X, barcodes, genes)
        positions = pd.DataFrame(
            {
                "barcode": barcodes + [barcode(len(spots))],
                "in_tissue": [1] * len(spots) + [0],
                "array_row": np.r_[row, row.max() + 1],
                "array_col": np.r_[col, col.max() + 1],
                "pxl_row_in_fullres": np.r_[spots["pixel_y"], spots["pixel_y"].max() + 40],
                "pxl_col_in_fullres": np.r_[spots["pixel_x"], spots["pixel_x"].max() + 40],
            }
        )
        _write_spatial(out_dir / "spatial", positions, image, layout, {})
    label_file = out_dir / "labels.tsv"
    with atomic_path(label_file) as tmp:
        pd.DataFrame({"barcode": barcodes, "label": labels["label"].to_numpy()}).to_csv(tmp, sep="\t", index=False)
    return {"outs": out_dir, "labels": label_file}
