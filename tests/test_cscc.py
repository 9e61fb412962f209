"""cSCC (GSE144240) sections through the real download code (GEO's per-sample layout on a loopback server) and reader.

GEO publishes no checksums, so a transfer is verified as a complete gzip stream:
a cut or corrupted file is refused and nothing is left in its place.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest
from her2st_server import loopback_server  # noqa: F401

from senca_st.errors import InputError
from senca_st.io.cscc import SECTIONS, section_files
from senca_st.io.demo import make_demo_section
from senca_st.io.download import DownloadError, fetch
from senca_st.samplesheet import check_sections, load_sample_sheet
from workflow_copy import copy_workflow, run_snakemake, write_overlay


def geo_mirror(root: Path, section: str = "P2_rep1") -> dict[str, Path]:
    """The demo section as GEO serves a cSCC sample: gzipped count table and spot file under GSM…nnn/GSM…/suppl/."""
    demo = make_demo_section(root / "demo", seed=1, n_cols=20, n_rows=16, n_genes=200, markers=20)
    files = {}
    for kind, rel in section_files(section).items():
        dest = root / "geo" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if kind == "counts":
            shutil.copyfile(demo["counts"], dest)  # already gzip, rows {x}x{y}
        else:
            with open(demo["spots"], "rb") as src, gzip.open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        files[kind] = dest
    files["labels"] = demo["labels"]
    return files


def test_sections_and_geo_paths():
    assert len(SECTIONS) == 12
    assert SECTIONS["P2_rep1"] == "GSM4284316" and SECTIONS["P5_rep1"] == "GSM4284319" and SECTIONS["P9_rep2"] == "GSM4284323"
    assert section_files("P2_rep1") == {
        "counts": "GSM4284nnn/GSM4284316/suppl/GSM4284316_P2_ST_rep1_stdata.tsv.gz",
        "spots": "GSM4284nnn/GSM4284316/suppl/GSM4284316_spot_data-selection-P2_ST_rep1.tsv.gz",
    }


def test_unknown_cscc_section_is_refused(tmp_path):
    sheet = tmp_path / "samples.tsv"
    sheet.write_text("sample\tdataset\nP3_rep1\tcscc\n")
    table = load_sample_sheet(sheet)
    with pytest.raises(InputError, match=r"'P3_rep1' is not a cSCC section of GSE144240 \(those are P2_rep1, .*P10_rep3\)"):
        check_sections(table, sheet, {}, "manifest.tsv")


def test_cut_or_corrupted_gzip_is_refused(tmp_path, loopback_server):
    files = geo_mirror(tmp_path)
    server = loopback_server(tmp_path / "geo")
    rel = section_files("P2_rep1")["counts"]
    dest = tmp_path / "out" / Path(rel).name
    server.faults.corrupt = True
    with pytest.raises(DownloadError, match="not a complete gzip file"):
        fetch(f"{server.url}/{rel}", dest, retries=0, backoff=0, setting="cscc.base_url")
    assert not dest.exists() and not list(dest.parent.glob("*.part"))
    server.faults.corrupt = False
    fetch(f"{server.url}/{rel}", dest, retries=0, backoff=0)
    assert dest.read_bytes() == files["counts"].read_bytes()


@pytest.mark.slow
def test_cscc_section_downloads_and_runs(tmp_path, loopback_server):
    files = geo_mirror(tmp_path)
    server = loopback_server(tmp_path / "geo")
    wf = copy_workflow(tmp_path / "wf")
    (wf / "config" / "samples_cscc.tsv").write_text(f"sample\tdataset\tlabels\nP2_rep1\tcscc\t{files['labels']}\n")
    overlay = write_overlay(
        wf,
        f"samples: config/samples_cscc.tsv\ncscc:\n  base_url: {server.url}\ntrain:\n  epochs: 2\n  seeds: [0]\n",
        name="cscc.yaml",
    )
    proc = run_snakemake(wf, "all", "--configfile", str(overlay))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for rel in section_files("P2_rep1").values():
        assert (wf / "resources" / "cscc" / rel).read_bytes() == (tmp_path / "geo" / rel).read_bytes()
    assert {Path(r.path).name for r in server.requests} >= {Path(p).name for p in section_files("P2_rep1").values()}
    ari = pd.read_csv(wf / "results/metrics/ari.tsv", sep="\t")
    assert set(ari["method"]) == {"senca_rna", "rna_pca"}, "no image: the image-free methods run"
    assert (ari["ari"] > 0.3).all(), ari
