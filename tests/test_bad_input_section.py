"""Issue #4, cases 2, 3 and 5 at the step level: count matrix, spot file and labels.

Each bad file gives one InputError line naming the file, what is wrong and what
to do, and the step writes nothing (no output, no temporary file).  The steps
are the functions the rule scripts call (senca_st.steps), run inside
senca_st.runlog.rule_step as the scripts do where the log matters.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from bad_input_files import section_tables, temp_files, write_counts, write_section
from senca_st import steps
from senca_st.errors import InputError
from senca_st.io.sections import UNDETERMINED, read_st_section
from senca_st.method.preprocess import preprocess_section
from senca_st.runlog import rule_step


def load(files: dict, out: Path, **kw):
    return steps.load_section(
        "her2st", str(out), counts=str(files["counts"]), spots=str(files["spots"]),
        labels=str(files.get("labels", "")), sample="s1", **kw,
    )


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert temp_files(out.parent) == []


def run_logged(tmp_path: Path, fn) -> tuple[int, str]:
    """Run ``fn`` as a rule script does; return the exit status and the job log."""
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stop:
        with rule_step(log):
            fn()
    return stop.value.code, log.read_text()


# --- count matrix ------------------------------------------------------------------------------


def _bad_counts(kind: str, path: Path) -> Path:
    counts, _, _ = section_tables()
    if kind == "missing":
        return path
    if kind == "truncated":
        write_counts(path, counts)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "corrupted":
        write_counts(path, counts)
        data = bytearray(path.read_bytes())
        for i in range(len(data) // 3, len(data) // 3 + 64):
            data[i] ^= 0x5A
        path.write_bytes(bytes(data))
    elif kind == "empty":
        with gzip.open(path, "wt"):
            pass
    elif kind == "comma":
        with gzip.open(path, "wt") as fh:
            counts.to_csv(fh)
    elif kind == "text":
        counts = counts.astype(object)
        counts.iat[3, 5] = "abc"
        write_counts(path, counts)
    elif kind == "empty-cell":
        counts = counts.astype(float)
        counts.iat[2, 1] = np.nan
        write_counts(path, counts)
    elif kind == "negative":
        counts.iat[4, 2] = -3
        write_counts(path, counts)
    elif kind == "dup-gene":
        counts.columns = [*counts.columns[:-1], counts.columns[0]]
        write_counts(path, counts)
    elif kind == "dup-spot":
        counts.index = [*counts.index[:-1], counts.index[0]]
        write_counts(path, counts)
    elif kind == "header-only":
        write_counts(path, counts.iloc[:0])
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "count matrix file not found. Check the path in the sample sheet or rerun the download"),
        ("truncated", "count matrix file is truncated or not valid gzip"),
        ("corrupted", "count matrix file is truncated or not valid gzip"),
        ("empty", "count matrix file is empty"),
        ("comma", "count matrix file has 1 column(s); it looks comma-separated; columns must be separated by tabs. Re-export it as TSV."),
        ("text", "count matrix has a non-numeric value 'abc' at spot '3x0', gene 'GENE005' (1 such cell(s)). Counts must be non-negative numbers."),
        ("empty-cell", "count matrix has an empty cell at spot '2x0', gene 'GENE001'"),
        ("negative", "count matrix has a negative count -3 at spot '4x0', gene 'GENE002' (1 negative cell(s)). Counts must be non-negative"),
        ("dup-gene", "count matrix has 1 duplicated gene name(s), e.g. 'GENE000'. Make gene names unique"),
        ("dup-spot", "count matrix has 1 duplicated spot id(s), e.g. '0x0'"),
        ("header-only", "count matrix has 0 spots and 60 genes"),
    ],
)
def test_bad_count_matrix(tmp_path, kind, message):
    files = write_section(tmp_path / "in", image=False)
    files["counts"] = _bad_counts(kind, tmp_path / "in" / "bad.tsv.gz")
    out = tmp_path / "results" / "s1" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        load(files, out)
    msg = str(err.value)
    assert msg.startswith(f"{files['counts']}: ") and message in msg and "\n" not in msg
    assert_nothing_written(out)


def test_bad_count_matrix_is_one_error_line_in_the_job_log(tmp_path, capsys):
    files = write_section(tmp_path / "in", image=False)
    files["counts"] = _bad_counts("truncated", tmp_path / "in" / "bad.tsv.gz")
    out = tmp_path / "results" / "spots.h5ad"
    code, log = run_logged(tmp_path, lambda: load(files, out))
    assert code == 1
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"{files['counts']}: count matrix file is truncated" in errors[0]
    assert "Traceback" not in log
    assert errors[0].split(" ERROR ", 1)[1] in capsys.readouterr().err  # and on the terminal
    assert_nothing_written(out)


def _spots_h5ad(tmp_path: Path, nx: int, ny: int, labels: bool = True) -> Path:
    files = write_section(tmp_path / "in", nx=nx, ny=ny, labels=labels, image=False)
    out = tmp_path / "results" / "spots.h5ad"
    load(files, out)
    return out


def test_no_genes_left_after_filtering(tmp_path):
    spots = _spots_h5ad(tmp_path, 4, 4)
    out = tmp_path / "results" / "preprocessed.h5ad"
    with pytest.raises(InputError) as err:
        steps.preprocess_step(str(spots), str(out), n_top_genes=50, min_spots_per_gene=100, min_counts_per_spot=1)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'in' / 'counts.tsv.gz'}: no genes left after filtering")
    assert "min_spots_per_gene=100" in msg and "had 16 spots, 60 genes" in msg and "Lower preprocess.min_counts_per_spot" in msg
    assert_nothing_written(out)


def test_no_spots_left_after_filtering(tmp_path):
    spots = _spots_h5ad(tmp_path, 4, 4)
    out = tmp_path / "results" / "preprocessed.h5ad"
    with pytest.raises(InputError, match=r"no spots left after filtering \(min_counts_per_spot=1000000"):
        steps.preprocess_step(str(spots), str(out), n_top_genes=50, min_spots_per_gene=1, min_counts_per_spot=1_000_000)
    assert_nothing_written(out)


def test_fewer_spots_than_the_graph_needs(tmp_path):
    spots = _spots_h5ad(tmp_path, 2, 2)
    out = tmp_path / "results" / "preprocessed.h5ad"
    with pytest.raises(InputError) as err:
        steps.preprocess_step(
            str(spots), str(out), n_top_genes=50, min_spots_per_gene=1, min_counts_per_spot=1,
            min_spots={"graph_k": 4, "n_clusters": 0},
        )
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'in' / 'counts.tsv.gz'}: only 4 spots remain after filtering")
    assert "links each spot to its 4 nearest, which needs at least 5 spots" in msg and "lower train.k" in msg
    assert_nothing_written(out)


def test_fewer_spots_than_regions(tmp_path):
    spots = _spots_h5ad(tmp_path, 3, 2, labels=False)
    out = tmp_path / "results" / "preprocessed.h5ad"
    with pytest.raises(InputError, match=r"only 6 spots remain after filtering; they cannot form 8 regions. Lower n_clusters"):
        steps.preprocess_step(
            str(spots), str(out), n_top_genes=50, min_spots_per_gene=1, min_counts_per_spot=1,
            min_spots={"graph_k": 0, "n_clusters": 8},
        )
    assert_nothing_written(out)


def test_enough_spots_pass(tmp_path):
    spots = _spots_h5ad(tmp_path, 3, 2)
    out = tmp_path / "results" / "preprocessed.h5ad"
    steps.preprocess_step(
        str(spots), str(out), n_top_genes=50, min_spots_per_gene=1, min_counts_per_spot=1,
        min_spots={"graph_k": 5, "n_clusters": 0},
    )
    assert ad.read_h5ad(out).n_obs == 6


def test_filtering_that_leaves_too_few_spots_says_so(tmp_path):
    adata = read_st_section(*[write_section(tmp_path, 4, 4, labels=False, image=False)[k] for k in ("counts", "spots")])
    adata.X = adata.X.toarray()
    adata.X[:10] = 0  # ten empty spots
    with pytest.raises(InputError, match=r"only 6 spots remain after filtering \(of 16; preprocess.min_counts_per_spot=10\)"):
        preprocess_section(adata, n_top_genes=20, source="c.tsv.gz", min_spots={"graph_k": 8, "n_clusters": 0})


# --- spot file -----------------------------------------------------------------------------------


def test_spot_file_missing_columns(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    pd.read_csv(files["spots"], sep="\t").drop(columns=["pixel_y"]).to_csv(files["spots"], sep="\t", index=False)
    out = tmp_path / "results" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        load(files, out)
    assert str(err.value).startswith(f"{files['spots']}: spot file lacks column(s) pixel_y (has x, y, new_x, new_y, pixel_x, selected)")
    assert "It needs x, y, pixel_x, pixel_y" in str(err.value)
    assert_nothing_written(out)


def test_spot_ids_matching_no_count_row(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    s = pd.read_csv(files["spots"], sep="\t")
    s["x"] += 100
    s.to_csv(files["spots"], sep="\t", index=False)
    out = tmp_path / "results" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        load(files, out)
    msg = str(err.value)
    assert msg.startswith(f"{files['spots']}: none of the 72 spot ids (e.g. 100x0) match the 72 count rows (e.g. 0x0) of {files['counts']}")
    assert "same section" in msg
    assert_nothing_written(out)


def test_few_matching_spot_ids_are_counted(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    s = pd.read_csv(files["spots"], sep="\t")
    s.loc[s.index[10:], "x"] += 100
    s.to_csv(files["spots"], sep="\t", index=False)
    adata = load(files, tmp_path / "results" / "spots.h5ad")
    assert adata.n_obs == 10
    assert f"only 10 of 72 count rows match a spot under tissue in {files['spots']}" in caplog.text


def test_spot_file_non_numeric_coordinate(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    s = pd.read_csv(files["spots"], sep="\t").astype({"pixel_x": object})
    s.loc[3, "pixel_x"] = "n/a"
    s.to_csv(files["spots"], sep="\t", index=False)
    with pytest.raises(InputError, match=r"spot file has an empty or non-numeric pixel_x \(n/a\) on line 5 \(1 such row\(s\)\). Every row needs numeric x, y, pixel_x, pixel_y"):
        load(files, tmp_path / "results" / "spots.h5ad")


def test_spot_file_with_nothing_selected(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    s = pd.read_csv(files["spots"], sep="\t")
    s["selected"] = 0
    s.to_csv(files["spots"], sep="\t", index=False)
    with pytest.raises(InputError, match=r"spot file has no spot with selected = 1"):
        load(files, tmp_path / "results" / "spots.h5ad")


def test_spot_coordinates_outside_the_image(tmp_path):
    from PIL import Image

    spots = _spots_h5ad(tmp_path, 4, 4)
    image = tmp_path / "small.png"
    Image.fromarray(np.full((60, 60, 3), 200, np.uint8)).save(image)  # spots reach x = 90
    out = tmp_path / "results" / "image_features.npy"
    with pytest.raises(InputError) as err:
        steps.image_features_step(str(spots), str(image), str(out), str(out.with_suffix(".json")), 32, 3, {"dataset": "her2st", "sample": "s1"}, "efficientnet_lite0")
    msg = str(err.value)
    assert msg.startswith(f"{image}: 12 of 16 spot centres lie outside the 60x60 image")
    assert "Check that the image belongs to the section" in msg and "image_scale" in msg
    assert_nothing_written(out)


# --- labels --------------------------------------------------------------------------------------


def test_missing_labels_file_clusters_without_evaluation(tmp_path, caplog):
    files = write_section(tmp_path / "in", labels=False, image=False)
    files["labels"] = tmp_path / "in" / "gone.tsv"
    res = tmp_path / "results"
    adata = load(files, res / "spots.h5ad")
    assert "label" not in adata.obs
    assert f"{files['labels']}: labels file not found; the section is clustered but not evaluated" in caplog.text
    steps.preprocess_step(str(res / "spots.h5ad"), str(res / "pre.h5ad"), n_top_genes=50)
    steps.baseline_step(str(res / "pre.h5ad"), "", str(res / "emb.h5ad"), "rna_pca", 10, 0)
    steps.cluster_step(str(res / "emb.h5ad"), str(res / "pre.h5ad"), str(res / "clusters.tsv"), 0, 4)
    assert pd.read_csv(res / "clusters.tsv", sep="\t")["cluster"].nunique() == 4  # cluster.default_n_clusters
    with pytest.raises(InputError, match=r"pre.h5ad: has no pathologist labels to evaluate against. Add a labels file"):
        steps.evaluate_step(str(res / "pre.h5ad"), str(res / "emb.h5ad"), str(res / "clusters.tsv"),
                            [str(res / "clusters.tsv")], str(res / "metrics.tsv"), str(res / "f1.tsv"), "s1", "rna_pca")
    assert_nothing_written(res / "metrics.tsv")


def test_labels_for_spots_that_do_not_exist(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    extra = pd.DataFrame({"x": [50, 51, 52], "y": [50, 50, 50], "label": ["tumour"] * 3})
    pd.concat([lab, extra]).to_csv(files["labels"], sep="\t", index=False)
    adata = load(files, tmp_path / "results" / "spots.h5ad")
    assert (
        f"{files['labels']}: 3 of 75 label row(s) cannot be placed on a spot and are ignored: "
        "3 naming no spot of the section (e.g. 50x50); the first is line 74: x=50, y=50, label=tumour"
    ) in caplog.text
    assert (adata.obs["label"] != UNDETERMINED).sum() == 72


def test_labels_matching_no_spot_is_an_error(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    lab["y"] += 1000
    lab.to_csv(files["labels"], sep="\t", index=False)
    out = tmp_path / "results" / "spots.h5ad"
    with pytest.raises(InputError) as err:
        load(files, out)
    assert str(err.value).startswith(f"{files['labels']}: none of the 72 labelled spots (e.g. 0x1000) match one of the 72 spots")
    assert_nothing_written(out)


def test_only_one_region(tmp_path, caplog):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    lab["label"] = "tumour"
    lab.to_csv(files["labels"], sep="\t", index=False)
    res = tmp_path / "results"
    load(files, res / "spots.h5ad")
    assert "only 1 annotated region(s) (tumour); ARI and NMI are not informative" in caplog.text
    steps.preprocess_step(str(res / "spots.h5ad"), str(res / "pre.h5ad"), n_top_genes=50)
    steps.baseline_step(str(res / "pre.h5ad"), "", str(res / "emb.h5ad"), "rna_pca", 10, 0)
    steps.cluster_step(str(res / "emb.h5ad"), str(res / "pre.h5ad"), str(res / "clusters.tsv"), 0, 3)
    assert pd.read_csv(res / "clusters.tsv", sep="\t")["cluster"].nunique() == 3
    steps.evaluate_step(str(res / "pre.h5ad"), str(res / "emb.h5ad"), str(res / "clusters.tsv"),
                        [str(res / "clusters.tsv")], str(res / "metrics.tsv"), str(res / "f1.tsv"), "s1", "rna_pca")
    assert (res / "metrics.tsv").exists()


def test_empty_label_cells_are_undetermined(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    lab = pd.read_csv(files["labels"], sep="\t")
    lab.loc[:4, "label"] = np.nan
    lab.to_csv(files["labels"], sep="\t", index=False)
    adata = load(files, tmp_path / "results" / "spots.h5ad")
    assert (adata.obs["label"] == UNDETERMINED).sum() == 5 and "nan" not in set(adata.obs["label"])


def test_label_file_missing_columns(tmp_path):
    files = write_section(tmp_path / "in", image=False)
    pd.read_csv(files["labels"], sep="\t").rename(columns={"label": "region"}).to_csv(files["labels"], sep="\t", index=False)
    with pytest.raises(InputError, match=r"label file lacks column\(s\) label \(has x, y, region\). It needs x, y and label"):
        load(files, tmp_path / "results" / "spots.h5ad")
