"""Issue #4, case 1: a bad sample sheet or config stops the run before any job, with one line.

Unit tests call the package's checks; the workflow tests run ``snakemake`` on a
copy of the workflow (it stops while parsing, about a second each) and look for
the one ERROR line in the terminal and in Snakemake's own log.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bad_input_files import error_lines, overlay, sheet_text, snakemake, terminal, workflow, write_section
from senca_st.defaults import DEFAULTS_FILE, load_config, merged
from senca_st.config_check import check_config, config_files_in_order, source_of, spots_needed
from senca_st.errors import InputError
from senca_st.io.her2st_manifest import load_manifest
from senca_st.samplesheet import check_sections, load_sample_sheet

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
SHEET_SCHEMA = REPO / "config" / "schemas" / "samples.schema.yaml"
MANIFEST = REPO / "resources" / "her2st_manifest.tsv"


def write(tmp_path: Path, text: str, name: str = "samples.tsv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- sample sheet ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "sample sheet is empty. Add a header"),
        ("\n\n", "sample sheet is empty"),
        ("sample\tdataset\n", "sample sheet has no sections. Add one row"),
        ("sample\tdataset\nA1\ther2st\nA1\tdemo\n", "duplicate sample id(s) 'A1'. Each section needs its own sample id"),
        ("sample\tdataset\nA1\tmouse\n", "sample 'A1': unknown dataset 'mouse'. Use one of her2st, visium, demo"),
        ("sample\tdataset\tcolour\nA1\tdemo\tred\n", "unknown column(s) 'colour'. Allowed: sample, dataset"),
        ("sample,dataset\nA1,demo\n", "is one column; the sheet is not tab-separated"),
        ("sample\tn_clusters\nA1\t3\n", "missing column 'dataset'"),
        ("sample\tdataset\tn_clusters\nA1\tdemo\t1\n", "sample 'A1': n_clusters is 1. Ask for at least 2 regions"),
        ("sample\tdataset\tn_clusters\nA1\tdemo\tfive\n", "n_clusters 'five' is not a whole number"),
        ("sample\tdataset\nA 1\tdemo\n", "sample 'A 1': the id may hold only letters"),
        ("sample\tdataset\nA1\tvisium\n", "needs a visium_dir"),
        ("sample\tdataset\tcounts\nX9\ther2st\t/nonexistent/c.tsv.gz\n", "sample 'X9': counts '/nonexistent/c.tsv.gz' does not exist. Fix the path"),
        ("sample\tdataset\tspots\nX9\ther2st\tmissing_spots.tsv\n", "spots 'missing_spots.tsv' does not exist"),
        ("sample\tdataset\timage\nX9\ther2st\tmissing.jpg\n", "image 'missing.jpg' does not exist. Fix the path, or write 'none'"),
    ],
)
def test_bad_sheet_is_one_line_naming_the_sheet(tmp_path, text, message):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_sample_sheet(p, schema=SHEET_SCHEMA)
    msg = str(err.value)
    assert msg.startswith(f"{p}: ") and message in msg and "\n" not in msg


def test_missing_sheet_names_the_config_key(tmp_path):
    with pytest.raises(InputError, match=r"sample sheet not found. Set 'samples:' in the config"):
        load_sample_sheet(tmp_path / "nope.tsv")


def test_her2st_sample_without_files_is_refused(tmp_path):
    """A her2st id the manifest does not know, with no user files: no files at all."""
    p = write(tmp_path, "sample\tdataset\nA1\ther2st\nZ9\ther2st\n")
    sheet = load_sample_sheet(p)
    with pytest.raises(InputError) as err:
        check_sections(sheet, p, load_manifest(MANIFEST), "resources/her2st_manifest.tsv")
    msg = str(err.value)
    assert msg.startswith(f"{p}: sample 'Z9' has no counts or spots file")
    assert "not a HER2ST section of resources/her2st_manifest.tsv (those are A1 … H3)" in msg
    assert "give your files in the counts and spots column(s)" in msg


def test_her2st_row_with_user_files_needs_no_manifest_entry(tmp_path):
    f = write_section(tmp_path / "mine", image=False)
    p = write(tmp_path, sheet_text([{"sample": "mine", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"]}]))
    check_sections(load_sample_sheet(p), p, load_manifest(MANIFEST), "m.tsv")  # no error
    half = write(tmp_path, sheet_text([{"sample": "mine", "dataset": "her2st", "counts": f["counts"]}]), "half.tsv")
    with pytest.raises(InputError, match=r"sample 'mine' has no spots file"):
        check_sections(load_sample_sheet(half), half, load_manifest(MANIFEST), "m.tsv")


def test_missing_labels_file_is_a_note_not_an_error(tmp_path):
    f = write_section(tmp_path / "s", labels=False, image=False)
    p = write(
        tmp_path,
        sheet_text([{"sample": "s1", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"], "labels": "gone.tsv"}]),
    )
    sheet = load_sample_sheet(p)
    assert sheet.loc["s1", "labels"] == "none"
    (note,) = sheet.attrs["notes"]
    assert note.startswith(f"{p}: sample 's1': labels file 'gone.tsv' does not exist; the section is clustered but not evaluated")


# --- config ----------------------------------------------------------------------------------------


#: The Snakefile's own config files, lowest precedence first.
CONFIG_FILES = [DEFAULTS_FILE, REPO / "config" / "config.yaml"]


def base_config() -> dict:
    return load_config(REPO / "config" / "config.yaml")


def overlay_file(tmp_path: Path, text: str) -> Path:
    return write(tmp_path, text, "overlay.yaml")


@pytest.mark.parametrize(
    "overlay_text, expected",
    [
        ("train:\n  k: -1\n", "train.k is -1; it must be at least 1. Fix train.k in {overlay}."),
        ("train:\n  k: four\n", "train.k is 'four'; it must be a number of nearest spots, or auto"),
        ("train:\n  epochs: 2.5\n", "train.epochs is 2.5; it must be a whole number"),
        ("train:\n  lr: 0\n", "train.lr is 0; it must be greater than 0"),
        ("train:\n  device: gpu\n", "train.device is 'gpu'; it must be auto, cpu, cuda or cuda:N"),
        ("cluster:\n  default_n_clusters: 1\n", "cluster.default_n_clusters is 1; it must be at least 2"),
        ("preprocess:\n  n_top_genes: -5\n", "preprocess.n_top_genes is -5; it must be at least 2"),
        ("preprocess:\n  hvg_flavor: seurat_v2\n", "preprocess.hvg_flavor is 'seurat_v2'; use one of seurat, seurat_v3, cell_ranger"),
        ("cluster:\n  refine: -1\n", "cluster.refine is -1; it must be at least 0"),
        ("cluster:\n  refine: all\n", "cluster.refine is 'all'; it must be isolated: a spot alone in its region"),
        ("methods:\n  without_image: [senca_rna, pca]\n", "methods.without_image[1] is 'pca'; use one of senca_rna, rna_pca"),
        ("her2st:\n  base_url: ftp://example.org\n", "her2st.base_url is 'ftp://example.org'; it must be a URL starting with https://, http:// or file://"),
        ("samples: 3\n", "samples is 3; it must be a text (string)"),
    ],
)
def test_config_error_names_the_key_and_the_file_that_set_it(tmp_path, overlay_text, expected):
    ov = overlay_file(tmp_path, overlay_text)
    config = base_config()
    config = merged(config, yaml.safe_load(overlay_text))
    with pytest.raises(InputError) as err:
        check_config(config, SCHEMA, [*CONFIG_FILES, ov])
    msg = str(err.value)
    assert msg.startswith(f"{ov}: ") and expected.format(overlay=ov) in msg and "\n" not in msg


def test_config_value_from_the_command_line_is_named_so(tmp_path):
    config = base_config()
    config["train"]["k"] = 0
    with pytest.raises(InputError, match=r"^--config: train.k is 0; it must be at least 1"):
        check_config(config, SCHEMA, CONFIG_FILES)


def test_missing_config_key_names_every_file(tmp_path):
    config = base_config()
    del config["train"]["epochs"]
    ov = overlay_file(tmp_path, "train:\n  k: 4\n")
    with pytest.raises(InputError) as err:
        check_config(config, SCHEMA, [*CONFIG_FILES, ov])
    assert "config key train.epochs is missing" in str(err.value)
    assert str(ov) in str(err.value)


@pytest.mark.parametrize(
    ("overlay", "key", "nearest"),
    [
        ("trian:\n  epochs: 3\n", "trian", "train"),
        ("train:\n  epoch: 3\n", "train.epoch", "train.epochs"),
        ("groups:\n  region: pooled\n", "groups.region", "groups.regions"),
        ("cluster:\n  colour: red\n", "cluster.colour", None),
    ],
    ids=["top-level", "nested", "nested-other-block", "no-near-key"],
)
def test_unknown_config_key_stops_the_run_naming_file_key_and_nearest(tmp_path, overlay, key, nearest):
    config = base_config()
    config = merged(config, yaml.safe_load(overlay))
    ov = overlay_file(tmp_path, overlay)
    with pytest.raises(InputError) as err:
        check_config(config, SCHEMA, [*CONFIG_FILES, ov])
    text = str(err.value)
    assert text.startswith(f"{ov}: unknown config key {key}."), text
    if nearest:
        assert f"Did you mean {nearest}?" in text
    else:
        assert "Did you mean" not in text and "Valid keys of cluster:" in text


def test_shipped_configs_pass():
    for overlay_path in (None, "config/her2st.yaml", "config/test/basic.yaml", "config/test/full.yaml"):
        config = base_config()
        if overlay_path:
            config = merged(config, yaml.safe_load((REPO / overlay_path).read_text()))
        check_config(config, SCHEMA, CONFIG_FILES)


def test_config_files_in_precedence_order():
    # workflow.configfiles lists --configfile files first, then the Snakefile's own.
    assert config_files_in_order(["/a/o1.yaml", "/a/o2.yaml", "config/config.yaml"], ["/a/o1.yaml", "/a/o2.yaml"]) == [
        "config/config.yaml",
        "/a/o1.yaml",
        "/a/o2.yaml",
    ]


def test_source_of_is_the_last_file_setting_the_key(tmp_path):
    a, b = write(tmp_path, "train:\n  k: 4\n", "a.yaml"), write(tmp_path, "train:\n  k: 8\n", "b.yaml")
    assert source_of(["train", "k"], [a, b]) == str(b)
    assert source_of(["train", "k"], [a, b], {"train": {"k": 9}}) is None


def test_spots_needed_from_methods_and_k():
    train = base_config()["train"]
    assert spots_needed(train, ["rna_pca"], 5) == {"graph_k": 0, "n_clusters": 5}
    assert spots_needed(train, ["senca", "rna_pca"], 0) == {"graph_k": 4, "n_clusters": 0}
    assert spots_needed(train, ["senca", "senca_k16"], 7)["graph_k"] == 16


# --- through Snakemake (parsing only) --------------------------------------------------------------


@pytest.fixture(scope="module")
def wf(tmp_path_factory) -> Path:
    return workflow(tmp_path_factory.mktemp("sheet") / "wf")


def _latest_snakemake_log(wf: Path) -> str:
    logs = sorted((wf / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text() if logs else ""


@pytest.mark.parametrize(
    "rows, extra, needle",
    [
        (
            [{"sample": "Z9", "dataset": "her2st"}],
            "",
            "config/bad_input_samples.tsv: sample 'Z9' has no counts or spots file",
        ),
        (
            [{"sample": "A1", "dataset": "her2st", "n_clusters": "1"}],
            "",
            "config/bad_input_samples.tsv: sample 'A1': n_clusters is 1. Ask for at least 2 regions.",
        ),
        (
            [{"sample": "A1", "dataset": "her2st"}],
            "train:\n  k: -2\n",
            "config/bad_input.yaml: train.k is -2; it must be at least 1. Fix train.k in config/bad_input.yaml.",
        ),
        (
            [{"sample": "A1", "dataset": "her2st"}],
            "cluster:\n  default_n_clusters: 1\n",
            "config/bad_input.yaml: cluster.default_n_clusters is 1; it must be at least 2.",
        ),
        (
            [{"sample": "A1", "dataset": "her2st"}],
            "trian:\n  epochs: 3\n",
            "config/bad_input.yaml: unknown config key trian. Did you mean train?",
        ),
    ],
    ids=["unknown-her2st-sample", "sheet-n_clusters", "negative-k", "config-n_clusters", "misspelt-key"],
)
def test_snakemake_stops_with_one_line(wf, rows, extra, needle):
    ov = overlay(wf, sheet_text(rows), extra)
    proc = snakemake(wf, "--configfile", str(ov.relative_to(wf)))  # a real run: only it writes Snakemake's log
    assert proc.returncode != 0
    lines = error_lines(terminal(proc), needle)
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), terminal(proc)[-3000:]
    assert "Traceback" not in terminal(proc)
    assert needle in _latest_snakemake_log(wf)
    assert not (wf / "results").exists()


def test_snakemake_notes_a_missing_labels_file_and_skips_evaluation(wf, tmp_path):
    f = write_section(tmp_path / "s", labels=False, image=False)
    rows = [{"sample": "s1", "dataset": "her2st", "counts": f["counts"], "spots": f["spots"], "labels": "gone.tsv"}]
    ov = overlay(wf, sheet_text(rows))
    proc = snakemake(wf, "-n", "results/metrics/ari.tsv", "results/s1/methods/rna_pca/clusters.tsv", "--configfile", str(ov.relative_to(wf)))
    assert proc.returncode == 0, terminal(proc)[-3000:]
    assert len(error_lines(terminal(proc), "labels file 'gone.tsv' does not exist; the section is clustered but not evaluated")) == 1
    out = terminal(proc)
    assert "rule cluster:" in out and "rule evaluate:" not in out
