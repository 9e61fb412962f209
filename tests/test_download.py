"""senca_st.io.download.fetch against a real loopback HTTP server, and the HER2ST manifest."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from her2st_server import SHARED_HER2ST, closed_port_url, her2st_http, loopback_server  # noqa: F401

from senca_st.errors import InputError
from senca_st.io.download import DownloadError, fetch, git_blob_sha1, verify
from senca_st.io.her2st_manifest import all_sections, labelled_sections, load_manifest, section_files

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "resources" / "her2st_manifest.tsv"
FAST = {"backoff": 0.01, "timeout": 10.0}


@pytest.fixture
def blob(tmp_path: Path) -> tuple[Path, dict]:
    """A 300 kB file of pseudo-random bytes in ``tmp_path/srv`` and its checksums."""
    data = hashlib.sha256(b"seed").digest() * (300_000 // 32)
    srv = tmp_path / "srv"
    srv.mkdir()
    (srv / "f.bin").write_bytes(data)
    sums = {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "git_blob_sha1": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(),
    }
    return srv / "f.bin", sums


def _leftovers(dest: Path) -> list[Path]:
    return [p for p in (dest, dest.with_name(dest.name + ".part")) if p.exists()]


# --- manifest ---------------------------------------------------------------------------------


def test_manifest_sections() -> None:
    man = load_manifest(MANIFEST)
    a1 = section_files(man, "A1")
    assert a1 == {
        "counts": "data/ST-cnts/A1.tsv.gz",
        "spots": "data/ST-spotfiles/A1_selection.tsv",
        "image": "data/ST-imgs/A/A1/9769_C1_HE_small.jpg",
        "labels": "data/ST-pat/lbl/A1_labeled_coordinates.tsv",
    }
    assert section_files(man, "C2")["image"] == "data/ST-imgs/C/C2/5714_HE_BT_C2.jpg"
    assert section_files(man, "C2")["labels"] is None
    assert section_files(man, "Z9") == {"counts": None, "spots": None, "image": None, "labels": None}
    assert len(labelled_sections(man)) >= 8 and {"A1", "B1", "G2", "H1"} <= set(labelled_sections(man))
    assert len(all_sections(man)) == 36
    assert all(len(e.git_blob_sha1) == 40 for e in man.values())
    assert man["data/ST-cnts/A1.tsv.gz"].size == 1033376
    assert man["data/ST-imgs/A/A1/9769_C1_HE_small.jpg"].size is None


def test_manifest_matches_shared_fact_sheet() -> None:
    sheet = SHARED_HER2ST / "MANIFEST.tsv"
    if not sheet.is_file():
        pytest.skip(f"{sheet} not found")
    assert len(load_manifest(sheet)) == len(load_manifest(MANIFEST))


def test_manifest_missing_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="manifest not found"):
        load_manifest(tmp_path / "nope.tsv")


# --- real HER2ST files over HTTP --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["counts", "spots", "labels"])
def test_real_her2st_files_verify(her2st_http, tmp_path: Path, kind: str) -> None:  # noqa: F811
    man = load_manifest(MANIFEST)
    rel = section_files(man, "A1")[kind]
    entry = man[rel]
    dest = fetch(f"{her2st_http.url}/{rel}", tmp_path / rel, **entry.checksums(), **FAST)
    data = dest.read_bytes()
    assert len(data) == entry.size
    assert hashlib.sha256(data).hexdigest() == entry.sha256
    assert git_blob_sha1(dest) == entry.git_blob_sha1
    assert not dest.with_name(dest.name + ".part").exists()


def test_real_image_resumes_with_range(her2st_http, tmp_path: Path) -> None:  # noqa: F811
    man = load_manifest(MANIFEST)
    rel = section_files(man, "C2")["image"]
    her2st_http.faults.cut_after = 1_500_000
    dest = fetch(f"{her2st_http.url}/{rel}", tmp_path / "C2.jpg", git_blob_sha1=man[rel].git_blob_sha1, **FAST)
    assert [(r.range, r.status) for r in her2st_http.requests] == [(None, 200), ("bytes=1500000-", 206)]
    assert verify(dest, **man[rel].checksums()) is None


# --- faults on small files --------------------------------------------------------------------


def test_interrupted_transfer_resumes(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    srv.faults.cut_after = 100_000
    dest = fetch(f"{srv.url}/f.bin", tmp_path / "out" / "f.bin", **sums, **FAST)
    assert any(r.range == "bytes=100000-" and r.status == 206 for r in srv.requests)
    assert dest.read_bytes() == src.read_bytes()
    assert _leftovers(dest) == [dest]


def test_server_ignoring_range_restarts(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    srv.faults.ignore_range = True
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"junk" * 1000)
    fetch(f"{srv.url}/f.bin", dest, **sums, **FAST)
    assert srv.requests[0].range == "bytes=4000-" and srv.requests[0].status == 200
    assert dest.read_bytes() == src.read_bytes()


def test_416_restarts(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(src.read_bytes() + b"extra")  # size unknown to fetch
    fetch(f"{srv.url}/f.bin", dest, sha256=sums["sha256"], **FAST)
    assert [r.status for r in srv.requests] == [416, 200]
    assert dest.read_bytes() == src.read_bytes()


def test_bad_partial_file_is_downloaded_again(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"x" * 1000)  # not the file's first bytes
    fetch(f"{srv.url}/f.bin", dest, **sums, **FAST)
    assert [r.range for r in srv.requests] == ["bytes=1000-", None]
    assert dest.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("given", ["sha256", "git_blob_sha1"])
def test_corrupted_file_refused(loopback_server, blob, tmp_path: Path, given: str) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    srv.faults.corrupt = True
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as err:
        fetch(f"{srv.url}/f.bin", dest, size=sums["size"], **{given: sums[given]}, **FAST)
    msg = str(err.value)
    assert msg.startswith(f"{srv.url}/f.bin: ") and "mismatch" in msg
    assert f"expected {sums[given]}, got " in msg
    assert _leftovers(dest) == []


def test_wrong_size_refused(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    with pytest.raises(DownloadError, match=f"expected {sums['size'] + 1} bytes, got {sums['size']}"):
        fetch(f"{srv.url}/f.bin", tmp_path / "f.bin", size=sums["size"] + 1, **FAST)
    assert _leftovers(tmp_path / "f.bin") == []


def test_404_names_url(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    srv = loopback_server(blob[0].parent)
    url = f"{srv.url}/data/ST-cnts/Z9.tsv.gz"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "Z9.tsv.gz", **FAST)
    assert str(err.value).startswith(f"{url}: HTTP 404 Not Found. Check her2st.base_url")
    assert len(srv.requests) == 1  # not retried
    assert _leftovers(tmp_path / "Z9.tsv.gz") == []


def test_offline_message(tmp_path: Path) -> None:
    url = f"{closed_port_url()}/f.bin"
    with pytest.raises(DownloadError) as err:
        fetch(url, tmp_path / "f.bin", retries=1, **FAST)
    msg = str(err.value)
    assert msg.startswith(f"{url}: cannot connect (") and "after 2 attempts" in msg
    assert "check your network or set her2st.base_url to a local mirror (file://" in msg.lower()
    assert _leftovers(tmp_path / "f.bin") == []


def test_503_twice_then_ok(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    src, sums = blob
    srv = loopback_server(src.parent)
    srv.faults.fail_503 = 2
    dest = fetch(f"{srv.url}/f.bin", tmp_path / "f.bin", **sums, **FAST)
    assert [r.status for r in srv.requests] == [503, 503, 200]
    assert dest.read_bytes() == src.read_bytes()


def test_503_gives_up(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    srv = loopback_server(blob[0].parent)
    srv.faults.fail_503 = 10
    with pytest.raises(DownloadError, match=r"HTTP 503 Service Unavailable, after 3 attempts"):
        fetch(f"{srv.url}/f.bin", tmp_path / "f.bin", retries=2, **FAST)
    assert len(srv.requests) == 3


def test_file_url(blob, tmp_path: Path) -> None:
    src, sums = blob
    dest = fetch(src.as_uri(), tmp_path / "copy" / "f.bin", **sums)
    assert dest.read_bytes() == src.read_bytes()
    with pytest.raises(DownloadError, match="no such file"):
        fetch((src.parent / "missing.bin").as_uri(), tmp_path / "m.bin")


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://example.org/f", tmp_path / "f")


def test_disk_full(loopback_server, blob, tmp_path: Path) -> None:  # noqa: F811
    """A real ENOSPC: a 64 kB tmpfs, a 300 kB download."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root to mount a tmpfs")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        src, sums = blob
        srv = loopback_server(src.parent)
        dest = small / "f.bin"
        with pytest.raises(DownloadError, match="disk is full") as err:
            fetch(f"{srv.url}/f.bin", dest, **sums, **FAST)
        assert str(err.value).startswith(f"{srv.url}/f.bin: ")
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)
