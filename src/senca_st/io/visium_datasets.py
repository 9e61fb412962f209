"""10x Genomics' public Visium datasets by name: where their files are and how to unpack them.

10x publishes each example dataset under
``{base}/{spaceranger_version}/{id}/{id}_{file}``: the filtered feature-barcode
matrix (``filtered_feature_bc_matrix.h5``), the ``spatial.tar.gz`` tarball
(positions, scale factors, hires and lowres PNGs) and, for most, the
full-resolution H&E (``image.tif``).  Datasets named ``V1_…`` were processed
with Space Ranger 1.1.0, the others (``Targeted_…``, ``Parent_…``) with 1.2.0:
the layout ``scanpy.datasets.visium_sge`` reads.  The pipeline downloads them
into ``resources/visium/{id}/`` and unpacks the tarball into
``resources/visium/{id}/outs/``, a Space Ranger ``outs/`` folder for
:func:`senca_st.io.sections.read_visium_section`.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
from pathlib import Path

from senca_st.errors import InputError

#: What a dataset id may look like (it becomes part of URLs and paths).
DATASET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FILES = ("filtered_feature_bc_matrix.h5", "spatial.tar.gz", "image.tif")
POSITIONS = ("tissue_positions.csv", "tissue_positions_list.csv")


def spaceranger_version(dataset_id: str) -> str:
    return "1.1.0" if dataset_id.startswith("V1_") else "1.2.0"


def url(base: str, dataset_id: str, file: str) -> str:
    """Where 10x serves ``file`` (one of ``FILES``) of dataset ``dataset_id``."""
    if file not in FILES:
        raise ValueError(f"unknown Visium dataset file {file!r}; choose from {', '.join(FILES)}")
    return f"{base.rstrip('/')}/{spaceranger_version(dataset_id)}/{dataset_id}/{dataset_id}_{file}"


def unpack_spatial(tarball: str | Path, outs: str | Path) -> Path:
    """Extract the tarball's ``spatial/`` folder into ``outs/spatial`` whole, or not at all.

    Members are extracted with tarfile's ``data`` filter (no absolute paths, no
    ``..``, no links out of the folder) into a temporary folder beside the
    target, checked (a positions file, scale factors, the hires PNG) and renamed
    into place.
    """
    tarball, outs = Path(tarball), Path(outs)
    outs.mkdir(parents=True, exist_ok=True)
    dest = outs / "spatial"
    with tempfile.TemporaryDirectory(dir=outs, prefix=".spatial.") as tmp:
        try:
            with tarfile.open(tarball) as tar:
                tar.extractall(tmp, filter="data")
        except (tarfile.TarError, EOFError, OSError) as err:
            raise InputError(tarball, f"cannot be unpacked ({err})", "Delete it and run again to download it afresh.") from err
        found = [p for p in Path(tmp).rglob("scalefactors_json.json")]
        if not found:
            raise InputError(tarball, "holds no spatial/scalefactors_json.json", "It is not a Space Ranger spatial tarball.")
        spatial = found[0].parent
        missing = [f for f in ("tissue_hires_image.png",) if not (spatial / f).exists()]
        if not any((spatial / p).exists() for p in POSITIONS):
            missing.append(" or ".join(POSITIONS))
        if missing:
            raise InputError(tarball, f"its spatial/ folder lacks {', '.join(missing)}", "It is not a complete Space Ranger spatial tarball.")
        if dest.exists():
            shutil.rmtree(dest)
        spatial.rename(dest)
    return dest
