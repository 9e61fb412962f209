"""Download one file and verify it before anyone can use it.

Upstream data comes over flaky links (multi-MB images from GitHub), so a
download resumes a partial ``<dest>.part`` with an HTTP ``Range`` request,
retries transient failures with exponential backoff, and checks size, sha256
and the git blob SHA-1 (the one checksum known for every HER2ST file).  Only a
verified file is renamed onto ``dest``: Snakemake treats an existing output as
done, so a corrupt or truncated file there would poison every later step.
Only the standard library is used, so the rule's environment stays tiny.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")
CHUNK = 1 << 20
USER_AGENT = "senca-st-download/1"


class DownloadError(InputError):
    """A download that cannot complete; the message names the URL, the problem and the fix."""

    def __init__(self, url: str, problem: str, hint: str = "") -> None:
        super().__init__(url, problem, hint)
        self.url = url


class _Transient(Exception):
    """A failure worth retrying (connection error, 5xx, truncated body)."""


class _Restart(Exception):
    """The partial file cannot be resumed; start again from byte 0 without waiting."""


def git_blob_sha1(path: str | Path) -> str:
    """SHA-1 of ``b"blob <size>\\0" + content``: what ``git hash-object`` prints."""
    return _digests(Path(path))[1]


def _digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) in one pass over the file."""
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
    return sha256.hexdigest(), sha1.hexdigest()


def gzip_problem(path: str | Path) -> str | None:
    """None when ``path`` is one or more complete gzip members, else what is wrong.

    Where no size or checksum is published (GEO), this is the check left: a
    cut-off or corrupted transfer fails gzip's length and CRC check.
    """
    try:
        with gzip.open(path, "rb") as fh:
            while fh.read(CHUNK):
                pass
    except (EOFError, OSError, zlib.error) as err:
        return f"not a complete gzip file ({err})"
    return None


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def hdf5_problem(path: str | Path) -> str | None:
    """None when ``path`` starts with the HDF5 signature (a 10x matrix), else what is wrong."""
    with open(path, "rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    return None if head == HDF5_SIGNATURE else "not an HDF5 file (no HDF5 signature at its start)"


def verify(
    path: str | Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    git_blob_sha1: str | None = None,
    gzip_whole: bool = False,
    hdf5: bool = False,
) -> str | None:
    """Return None when ``path`` matches every checksum given, else what is wrong (expected and got).

    ``gzip_whole``: also require a complete gzip stream (:func:`gzip_problem`);
    ``hdf5``: the HDF5 signature (:func:`hdf5_problem`).
    """
    path = Path(path)
    got_size = path.stat().st_size
    if size is not None and got_size != int(size):
        return f"size mismatch: expected {int(size)} bytes, got {got_size}"
    if sha256 or git_blob_sha1:
        got_sha256, got_sha1 = _digests(path)
        if sha256 and got_sha256 != sha256.lower():
            return f"sha256 mismatch: expected {sha256.lower()}, got {got_sha256}"
        if git_blob_sha1 and got_sha1 != git_blob_sha1.lower():
            return f"git blob SHA-1 mismatch: expected {git_blob_sha1.lower()}, got {got_sha1}"
    if gzip_whole:
        return gzip_problem(path)
    if hdf5:
        return hdf5_problem(path)
    return None


def fetch(
    url: str,
    dest: str | Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    git_blob_sha1: str | None = None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 60.0,
    log: logging.Logger | None = None,
    setting: str = "her2st.base_url",
) -> Path:
    """Download ``url`` (https, http or file) to ``dest``, verified; return ``dest``.

    ``retries`` transient failures are retried after ``backoff * 2**n`` seconds.
    A ``.gz`` file is also checked to be a complete gzip stream, an ``.h5`` file
    to be HDF5 (where no checksum is published, as for GEO and 10x).
    ``setting`` is the config key a user edits to change the URL; it only
    appears in error messages.  Raises :class:`DownloadError`.
    """
    log = log or LOG
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    checks = {
        "size": None if size in (None, "") else int(size),
        "sha256": sha256 or None,
        "git_blob_sha1": git_blob_sha1 or None,
    }
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise DownloadError(
            url,
            f"unsupported URL scheme {scheme or '(none)'!r}",
            f"Set {setting} to an https://, http:// or file:// URL.",
        )
    gz = dest.name.endswith(".gz")
    if all(v is None for v in checks.values()):
        log.warning(
            "%s: no size or checksum known; %s", url, "only its gzip integrity is checked" if gz else "the file cannot be verified"
        )
    try:
        for _ in range(2):
            if scheme == "file":
                resumed = _copy_local(url, part, setting)
            else:
                resumed = _download(url, part, checks["size"], retries, backoff, timeout, log, setting)
            problem = verify(part, **checks, gzip_whole=gz, hdf5=dest.suffix == ".h5")
            if not problem:
                break
            _unlink(part)
            if not resumed:
                break
            # The bytes kept from an earlier attempt may be what is wrong: one clean try.
            log.warning("%s: %s after resuming; downloading again from the start", url, problem)
    except OSError as exc:  # writing failed: reads are turned into _Transient or DownloadError
        _unlink(part)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DownloadError(
                url,
                f"the disk is full while writing {part} ({exc.strerror}); the partial file was removed",
                f"Free space under {dest.parent} and run again.",
            ) from None
        raise DownloadError(url, f"cannot write {part} ({exc})", f"Check that {dest.parent} is writable.") from None
    if problem:
        raise DownloadError(
            url,
            f"{problem}; the download was deleted",
            f"Run again; if it fails again, {setting} does not serve the file the manifest describes.",
        )
    os.replace(part, dest)
    log.info("%s: verified %d bytes -> %s", url, dest.stat().st_size, dest)
    return dest


def _download(
    url: str,
    part: Path,
    size: int | None,
    retries: int,
    backoff: float,
    timeout: float,
    log: logging.Logger,
    setting: str,
) -> bool:
    """Fill ``part`` with the body of ``url``, retrying; True when its first bytes came from an earlier attempt."""
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if size is not None and offset > size:
            _unlink(part)
            offset = 0
        if offset and offset == size:
            log.info("%s: %s is already complete; verifying it", url, part)
            return True
        try:
            return _get(url, part, offset, timeout, log, setting) > 0
        except _Restart as exc:
            log.warning("%s: %s; downloading again from the start", url, exc)
            _unlink(part)
        except _Transient as exc:
            problem, hint = exc.args
            if attempt >= retries:
                raise DownloadError(url, f"{problem}, after {attempt + 1} attempts", hint) from None
            delay = backoff * 2**attempt
            attempt += 1
            log.warning("%s: %s; retry %d of %d in %.1f s", url, problem, attempt, retries, delay)
            time.sleep(delay)


def _get(url: str, part: Path, offset: int, timeout: float, log: logging.Logger, setting: str) -> int:
    """One HTTP GET appending to ``part`` from ``offset``; return where this response started writing."""
    offline = f"Check your network or set {setting} to a local mirror (file://...)."
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        log.info("%s: resuming at byte %d", url, offset)
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            raise _Restart("the server cannot resume the partial file (HTTP 416)") from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Transient(
                f"HTTP {exc.code} {exc.reason}",
                f"The server is failing; try later or set {setting} to a local mirror (file://...).",
            ) from None
        raise DownloadError(
            url, f"HTTP {exc.code} {exc.reason}", f"Check {setting} in the config and that the section exists upstream."
        ) from None
    except urllib.error.URLError as exc:
        raise _Transient(f"cannot connect ({exc.reason})", offline) from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts and resets before the headers
        raise _Transient(f"cannot connect ({exc!r})", offline) from None
    with resp:
        start = 0
        if offset and resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m[1]) != offset:
                raise _Restart(f"the server sent an unexpected range ({resp.headers.get('Content-Range')})")
            start = offset
        elif offset:
            log.info("%s: the server ignored the Range request (HTTP %d); downloading from the start", url, resp.status)
        length = resp.headers.get("Content-Length", "")
        expected = start + int(length) if length.isdigit() else None
        got = start
        with part.open("ab" if start else "wb") as fh:
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"connection lost after {got} bytes ({exc!r})", offline) from None
                if not chunk:
                    break
                fh.write(chunk)
                got += len(chunk)
    if expected is not None and got < expected:
        raise _Transient(f"truncated transfer: got {got} of {expected} bytes", offline)
    return start


def _copy_local(url: str, part: Path, setting: str) -> bool:
    """Copy a ``file://`` URL to ``part`` (a local mirror); never a resume, so returns False."""
    split = urllib.parse.urlsplit(url)
    src = Path(urllib.request.url2pathname(split.path))
    if split.netloc not in ("", "localhost") or not src.is_file():
        raise DownloadError(url, "no such file", f"Check {setting} in the config and that the mirror holds this file.")
    try:
        fin = src.open("rb")
    except OSError as exc:
        raise DownloadError(url, f"cannot read ({exc.strerror})", "Check the mirror's file permissions.") from None
    with fin, part.open("wb") as fout:
        shutil.copyfileobj(fin, fout, CHUNK)
    return False


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
