"""Logging for rule scripts: one log file per job, one clear line per problem.

Snakemake shows a failed job's log path; users read the log or the terminal,
so every message goes to both.  An :class:`~senca_st.errors.InputError` is
reported as a single ``ERROR:`` line (no traceback: the user needs the file
and the fix, not our stack) and the script exits with status 1.
"""

from __future__ import annotations

import contextlib
import logging
import sys
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


@contextlib.contextmanager
def rule_step(log_path: str | Path | None) -> Iterator[logging.Logger]:
    """Run a rule's body with logging set up; turn InputError into one ERROR line and exit 1."""
    log = setup(log_path)
    try:
        yield log
    except InputError as err:
        log.error("%s", err)
        for h in log.handlers:
            h.flush()
        sys.exit(1)
    except Exception:
        log.exception("unexpected failure")
        raise
