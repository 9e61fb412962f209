import pytest

from senca_st.errors import InputError
from senca_st.samplesheet import load_sample_sheet


def sheet(tmp_path, text):
    p = tmp_path / "samples.tsv"
    p.write_text(text)
    return p


def test_good_sheet(tmp_path):
    s = load_sample_sheet(sheet(tmp_path, "sample\tdataset\tn_clusters\nA1\ther2st\t\ndemo\tdemo\t5\n"))
    assert list(s.index) == ["A1", "demo"] and s.loc["A1", "n_clusters"] == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "sample sheet is empty"),
        ("sample\tdataset\n", "has no sections"),
        ("sample\tdataset\nA\tdemo\nA\ther2st\n", "duplicate sample id"),
        ("sample\tdataset\nA\tmouse\n", "unknown dataset 'mouse'"),
        ("sample\tdataset\tcolour\nA\tdemo\tred\n", "unknown column"),
        ("sample\tdataset\tn_clusters\nA\tdemo\t1\n", "n_clusters is 1"),
        ("sample\tdataset\nA\tvisium\n", "needs a visium_dir"),
        ("sample\tdataset\tcounts\nA\ther2st\t/nonexistent/c.tsv.gz\n", "counts '/nonexistent/c.tsv.gz' does not exist"),
    ],
)
def test_bad_sheets_name_the_file(tmp_path, text, message):
    p = sheet(tmp_path, text)
    with pytest.raises(InputError, match=message) as err:
        load_sample_sheet(p)
    assert str(err.value).startswith(str(p))
