"""A real loopback HTTP server for download tests, with faults that can be switched on.

Downloads are tested against a real socket (not a mocked ``urlopen``) so that
Range requests, connections cut mid-body and refused connections behave as they
do on the internet.  Use the ``loopback_server`` fixture (a factory: call it with
the directory to serve) or ``her2st_http`` (serves ``../shared/data/her2st``, which
looks like the raw files of almaan/her2st; skips when the data are absent).
Import the fixtures into a test module: ``from her2st_server import loopback_server``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SHARED_HER2ST = Path(__file__).resolve().parents[2] / "shared" / "data" / "her2st"


@dataclass
class Faults:
    """Switchable misbehaviour; each counter is used up by the requests it affects."""

    cut_after: int | None = None  # send this many body bytes of the next response, then close
    corrupt: bool = False  # flip a byte in the middle of every body
    not_found: bool = False  # answer 404 to everything
    fail_503: int = 0  # answer 503 to this many requests first
    ignore_range: bool = False  # answer 200 with the whole file to Range requests


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    range: str | None
    status: int


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        srv = self.server.owner
        rng = self.headers.get("Range")
        with srv.lock:
            faults = srv.faults
            fail = faults.fail_503 > 0
            faults.fail_503 -= fail
            cut, faults.cut_after = faults.cut_after, None
        target = (srv.root / self.path.split("?")[0].lstrip("/")).resolve()
        if fail:
            return self._status(503, rng)
        if faults.not_found or not target.is_file() or srv.root.resolve() not in target.parents:
            return self._status(404, rng)
        data = target.read_bytes()
        if faults.corrupt and data:
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
        start, status, total = 0, 200, len(data)
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and not faults.ignore_range:
            start = int(m[1])
            if start >= len(data):
                srv._record(self.path, rng, 416)  # before answering: the client may look at once
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(int(m[2]) if m[2] else len(data) - 1, len(data) - 1)
            data, status = data[start : end + 1], 206
        srv._record(self.path, rng, status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + len(data) - 1}/{total}")
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if cut is not None:
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def _status(self, code: int, rng: str | None) -> None:
        self.server.owner._record(self.path, rng, code)
        self.send_error(code)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackServer


class LoopbackServer:
    """Serves ``root`` on 127.0.0.1 (a free port) from a thread; ``url`` is its base URL.

    ``faults`` can be changed between requests; ``requests`` lists what was asked.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.faults = Faults()
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, path: str, rng: str | None, status: int) -> None:
        with self.lock:
            self.requests.append(Seen(path, rng, status))

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def loopback_server() -> Iterator[Callable[[str | Path], LoopbackServer]]:
    """Factory fixture: ``loopback_server(directory)`` starts a server, stopped after the test."""
    started: list[LoopbackServer] = []

    def start(root: str | Path) -> LoopbackServer:
        started.append(LoopbackServer(root))
        return started[-1]

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def her2st_http(loopback_server: Callable[[str | Path], LoopbackServer]) -> LoopbackServer:
    """A server whose root looks like raw.githubusercontent.com/almaan/her2st/<commit>."""
    if not (SHARED_HER2ST / "data" / "ST-cnts").is_dir():
        pytest.skip(f"real HER2ST data not found at {SHARED_HER2ST}")
    return loopback_server(SHARED_HER2ST)


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (bind a port, then release it)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
