"""Malformed files of every format read: each ends in an ``InputError`` naming the file, never a library traceback.

Property-based (hypothesis): small valid files of each reader's format are
mutated — cut short, bytes overwritten, emptied, a table cell replaced — and
read again.  A mutated file may still be valid (a cut after the last row, a
changed count), so the property is: the reader returns its result, or raises
:class:`senca_st.errors.InputError` whose message names the mutated file.  Any
other exception escaping a reader is a failure.  Examples are bounded so the
whole file runs in well under a minute.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bad_input_files import write_section
from senca_st.errors import InputError
from senca_st.io.image_io import SectionImage
from senca_st.io.section_image import visium_image
from senca_st.io.sections import read_h5ad_section, read_st_section, read_visium_section
from senca_st.io.space_ranger import write_space_ranger

EXAMPLES = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """One small valid file of each format (the ST trio, an .h5ad, a Space Ranger outs/, an image)."""
    root = tmp_path_factory.mktemp("originals")
    files = write_section(root / "st", nx=6, ny=5)
    a = ad.AnnData(
        X=sp.csr_matrix(np.random.default_rng(0).poisson(3, (30, 40)).astype(np.float32)),
        obs=pd.DataFrame({"layer": ["L1", "L2", "L3"] * 10}, index=[f"s{i}" for i in range(30)]),
        var=pd.DataFrame(index=[f"g{i}" for i in range(40)]),
    )
    a.obsm["spatial"] = np.stack(np.divmod(np.arange(30), 6), axis=1).astype(float) * 100
    a.write_h5ad(root / "section.h5ad")
    outs = write_space_ranger(root / "sr" / "outs", "2.x", n_cols=8, n_rows=6, n_genes=60, markers=6)["outs"]
    return {
        "counts": files["counts"], "spots": files["spots"], "labels": files["labels"], "image": files["image"],
        "h5ad": root / "section.h5ad", "outs": outs,
    }


def mutate(data: bytes, how: str, at: float, junk: bytes) -> bytes:
    """``data`` cut at fraction ``at``, overwritten there with ``junk``, or emptied."""
    i = int(at * len(data))
    if how == "truncate":
        return data[:i]
    if how == "overwrite":
        return data[:i] + junk + data[i + len(junk):]
    return b""


MUTATIONS = st.tuples(
    st.sampled_from(["truncate", "overwrite", "empty"]),
    st.floats(min_value=0.0, max_value=1.0),
    st.binary(min_size=1, max_size=16),
)


def expect_input_error_or_result(read, path: Path) -> None:
    """``read()`` returns, or raises InputError naming ``path``; nothing else may escape."""
    try:
        read()
    except InputError as err:
        assert path.name in str(err), f"InputError does not name {path.name}: {err}"


def mutated_copy(src: Path, dest_dir: Path, mutation, gz: bool = False) -> Path:
    """``src`` copied into ``dest_dir`` with its (decompressed, if ``gz``) bytes mutated."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    raw = gzip.decompress(src.read_bytes()) if gz else src.read_bytes()
    out = mutate(raw, *mutation)
    dest.write_bytes(gzip.compress(out) if gz and mutation[0] != "empty" else out)
    return dest


def mutated_outs(outs: Path, dest: Path, part: str, mutation) -> tuple[Path, Path]:
    """A copy of the Space Ranger ``outs`` folder under ``dest`` with its file ``part`` mutated; (outs, that file)."""
    copy = dest / "outs"
    shutil.copytree(outs, copy)
    target = copy / part
    mutated_copy(outs / part, target.parent, mutation)
    return copy, target


@pytest.mark.parametrize("part", ["counts", "spots", "labels"])
def test_st_layout_files(originals, tmp_path_factory, part):
    @EXAMPLES
    @given(mutation=MUTATIONS, gz_bytes=st.booleans())
    def check(mutation, gz_bytes):
        d = tmp_path_factory.mktemp(part)
        files = {k: originals[k] for k in ("counts", "spots", "labels")}
        # the count table is gzipped: mutate the text inside, or the compressed bytes themselves
        files[part] = mutated_copy(originals[part], d, mutation, gz=part == "counts" and not gz_bytes)
        expect_input_error_or_result(lambda: read_st_section(files["counts"], files["spots"], files["labels"]), files[part])

    check()


@pytest.mark.parametrize("column", ["x", "y", "pixel_x", "pixel_y", "selected"])
def test_st_spot_file_cells(originals, tmp_path_factory, column):
    """A cell of the spot file replaced by any text: read, or one InputError naming the spot file."""

    @EXAMPLES
    @given(row=st.integers(min_value=0, max_value=29), text=st.text(max_size=8))
    def check(row, text):
        d = tmp_path_factory.mktemp("cells")
        spots = pd.read_csv(originals["spots"], sep="\t", dtype=str)
        if column not in spots:
            return
        spots.loc[row % len(spots), column] = text
        path = d / originals["spots"].name
        spots.to_csv(path, sep="\t", index=False)
        expect_input_error_or_result(lambda: read_st_section(originals["counts"], path, originals["labels"]), path)

    check()


#: Each file of a Space Ranger outs/ folder, and what reads it: the section reader, or the tiling
#: step's image (the hires PNG at the scale factor Space Ranger wrote).
SPACE_RANGER_READERS = {
    "filtered_feature_bc_matrix.h5": read_visium_section,
    "spatial/tissue_positions.csv": read_visium_section,
    "spatial/scalefactors_json.json": lambda outs: SectionImage(visium_image(outs)).thumbnail(64),
    "spatial/tissue_hires_image.png": lambda outs: SectionImage(visium_image(outs)).thumbnail(64),
}


@pytest.mark.parametrize("part", list(SPACE_RANGER_READERS))
def test_space_ranger_files(originals, tmp_path_factory, part):
    @EXAMPLES
    @given(mutation=MUTATIONS)
    def check(mutation):
        outs, target = mutated_outs(originals["outs"], tmp_path_factory.mktemp("sr"), part, mutation)
        expect_input_error_or_result(lambda: SPACE_RANGER_READERS[part](outs), target)

    check()


def _read_image(path: Path) -> None:
    image = SectionImage(path)
    image.read(0, 0, 8, 8)
    image.thumbnail(64)


#: Single-file formats and what reads them.
FILE_READERS = {"h5ad": lambda path: read_h5ad_section(path, label_key="layer"), "image": _read_image}


@pytest.mark.parametrize("kind", list(FILE_READERS))
def test_single_files(originals, tmp_path_factory, kind):
    @EXAMPLES
    @given(mutation=MUTATIONS)
    def check(mutation):
        path = mutated_copy(originals[kind], tmp_path_factory.mktemp(kind), mutation)
        expect_input_error_or_result(lambda: FILE_READERS[kind](path), path)

    check()
