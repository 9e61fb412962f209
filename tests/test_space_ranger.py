"""Space Ranger layouts through the real reader: Visium 1.x, 2.x+, CytAssist and Visium HD (8 and 16 µm bins).

The folders come from :mod:`senca_st.io.space_ranger` (the demo section written as
Space Ranger would); each must read to the same spots, counts, positions and
labels, and Visium HD must also run through the workflow (``bin_um``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from senca_st.errors import InputError
from senca_st.io.section_image import visium_image
from senca_st.io.sections import read_visium_section
from senca_st.io.space_ranger import LAYOUTS, write_space_ranger
from senca_st.samplesheet import load_sample_sheet
from workflow_copy import copy_workflow, run_snakemake, write_overlay

SMALL = {"n_cols": 20, "n_rows": 16, "n_genes": 200, "markers": 20}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("spaceranger")
    return {layout: write_space_ranger(root / layout / "outs", layout, **SMALL) for layout in LAYOUTS}


def test_every_layout_reads_to_the_same_section(folders):
    sections = {layout: read_visium_section(f["outs"], f["labels"], bin_um=16 if layout == "hd" else None) for layout, f in folders.items()}
    ref = sections["2.x"]
    assert ref.n_obs > 50 and ref.n_vars == 200 and "label" in ref.obs
    for layout, a in sections.items():
        assert a.n_obs == ref.n_obs, layout  # the spot outside the tissue is left out
        np.testing.assert_array_equal(a.X.toarray(), ref.X.toarray())
        np.testing.assert_allclose(a.obsm["spatial"], ref.obsm["spatial"])
        assert list(a.obs["label"]) == list(ref.obs["label"]), layout
    assert sections["hd"].obs_names[0].startswith("s_016um_")


def test_visium_hd_8um_bins_split_the_16um_counts(folders):
    outs = folders["hd"]["outs"]
    a16 = read_visium_section(outs, bin_um=16)
    a8 = read_visium_section(outs, bin_um="8")
    assert a8.n_obs == 4 * a16.n_obs
    assert a8.X.sum() == a16.X.sum()  # the same molecules, in four times the bins
    source = visium_image(outs, bin_um=8)
    path, scale = source.path, source.scale
    assert path.name == "tissue_hires_image.png" and "square_008um" in str(path) and scale == 0.5
    sf = json.loads((outs / "binned_outputs/square_008um/spatial/scalefactors_json.json").read_text())
    assert sf["bin_size_um"] == 8.0 and sf["microns_per_pixel"] > 0


def test_visium_hd_errors_name_the_folder(folders, tmp_path, repo):
    outs = folders["hd"]["outs"]
    with pytest.raises(InputError, match=r"no Visium HD binning binned_outputs/square_002um \(it has square_008um, square_016um\)"):
        read_visium_section(outs, bin_um=2)
    with pytest.raises(InputError, match="not a Visium HD run"):
        read_visium_section(folders["2.x"]["outs"], bin_um=16)
    sheet = tmp_path / "samples.tsv"
    sheet.write_text(f"sample\tdataset\tvisium_dir\tbin_um\nhd\tvisium\t{outs}\t4\n")
    with pytest.raises(InputError, match="bin_um '4' is not a Visium HD bin size"):
        load_sample_sheet(sheet)
    sheet.write_text(f"sample\tdataset\tvisium_dir\tbin_um\nhd\tvisium\t{folders['1.x']['outs']}\t16\n")
    with pytest.raises(InputError, match=rf"{sheet}: sample 'hd': .*not a Visium HD run"):
        load_sample_sheet(sheet)
    broken = tmp_path / "broken"
    write_space_ranger(broken, "hd", **SMALL)
    pos = broken / "binned_outputs/square_016um/spatial/tissue_positions.parquet"
    pd.read_parquet(pos).drop(columns=["array_row"]).to_parquet(pos)
    with pytest.raises(InputError, match=r"tissue_positions.parquet: lacks column\(s\) array_row"):
        read_visium_section(broken, bin_um=16)
    pos.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="cannot be read as Parquet"):
        read_visium_section(broken, bin_um=16)


@pytest.mark.slow
def test_visium_hd_section_through_the_workflow(folders, tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    f = folders["hd"]
    (wf / "config" / "samples_hd.tsv").write_text(
        f"sample\tdataset\tvisium_dir\tbin_um\tlabels\nhd16\tvisium\t{f['outs']}\t16\t{f['labels']}\n"
    )
    overlay = write_overlay(
        wf, "samples: config/samples_hd.tsv\ntrain:\n  epochs: 2\n  seeds: [0]\nmethods:\n  with_image: [rna_pca]\n", name="hd.yaml"
    )
    proc = run_snakemake(wf, "all", "--configfile", str(overlay))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t")
    assert ari.loc[ari["method"] == "rna_pca", "ari"].iloc[0] > 0.3
    assert (wf / "results/report/sections/hd16.png").stat().st_size > 10_000


@pytest.mark.parametrize(("layout", "name", "header_lines"), [("1.x", "tissue_positions_list.csv", 0), ("2.x", "tissue_positions.csv", 1)])
def test_a_non_numeric_position_names_its_line_in_the_file(folders, tmp_path, layout, name, header_lines):
    import shutil

    outs = tmp_path / "outs"
    shutil.copytree(folders[layout]["outs"], outs)
    path = outs / "spatial" / name
    lines = path.read_text().splitlines()
    row = header_lines + 2  # the file's third data row, 0-based
    fields = lines[row].split(",")
    fields[2] = "seven"  # array_row
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=rf"non-numeric array_row \('seven'\) on line {row + 1} \("):
        read_visium_section(outs)


def test_gene_indices_are_checked_chunk_by_chunk(folders, tmp_path, monkeypatch):
    """An out-of-range gene index past the first chunk is found; a valid matrix reads as before."""
    import shutil

    import h5py

    from senca_st.io import visium

    expected = read_visium_section(folders["2.x"]["outs"])
    monkeypatch.setattr(visium, "INDEX_CHUNK", 7)
    assert np.array_equal(read_visium_section(folders["2.x"]["outs"]).X.toarray(), expected.X.toarray())
    outs = tmp_path / "outs"
    shutil.copytree(folders["2.x"]["outs"], outs)
    with h5py.File(outs / "filtered_feature_bc_matrix.h5", "r+") as f:
        indices = f["matrix"]["indices"]
        assert indices.shape[0] > 3 * 7
        indices[3 * 7 + 1] = int(f["matrix"]["shape"][0])  # one past the last gene, in the fourth chunk
    with pytest.raises(InputError, match="damaged 10x HDF5 matrix: a gene index lies outside"):
        read_visium_section(outs)
