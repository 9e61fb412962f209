"""Logging for rule scripts: one log file per job, one clear line per problem.

Snakemake shows a failed job's log path; users read the log or the terminal,
so every message goes to both.  An :class:`~senca_st.errors.InputError` is
reported as a single ``ERROR:`` line (no traceback: the user needs the file
and the fix, not our stack) and the script exits with status 1.

A job stopped from outside (Ctrl-C, ``snakemake`` killed, ``scancel``, a SLURM
time limit: all send SIGTERM or SIGINT) raises :class:`Interrupted` inside the
step, so the ``except`` of :func:`senca_st.io.atomic.atomic_path` removes the
half-written temporary file before the process exits; Snakemake then removes
the job's outputs and ``--rerun-incomplete`` starts it afresh.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from senca_st.errors import InputError

LOG = logging.getLogger("senca_st")


def setup(log_path: str | Path | None) -> logging.Logger:
    """Send the package's log records to ``log_path`` (if any) and stderr."""
    LOG.setLevel(logging.INFO)
    LOG.handlers.clear()
    LOG.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        LOG.addHandler(h)
    return LOG


class Interrupted(BaseException):
    """The job received SIGTERM/SIGINT; a BaseException so that ``except Exception`` does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _interrupt(signum, frame) -> None:
    raise Interrupted(signum)


def _flush(log: logging.Logger) -> None:
    for h in log.handlers:
        h.flush()


@contextlib.contextmanager
def rule_step(log_path: str | Path | None) -> Iterator[logging.Logger]:
    """Run a rule's body with logging set up; turn InputError into one ERROR line and exit 1.

    SIGTERM and SIGINT become :class:`Interrupted` so temporary files are cleaned
    up; the process then exits with 128 + the signal number, as if killed by it.
    """
    log = setup(log_path)
    previous = {}
    if threading.current_thread() is threading.main_thread():  # handlers can only be set there
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in previous:
            signal.signal(s, _interrupt)
    try:
        yield log
    except InputError as err:
        log.error("%s", err)
        _flush(log)
        sys.exit(1)
    except Interrupted as stop:
        log.error("%s; partial output removed, rerun with --rerun-incomplete", stop)
        _flush(log)
        sys.exit(128 + stop.signum)
    except Exception:
        log.exception("unexpected failure")
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
