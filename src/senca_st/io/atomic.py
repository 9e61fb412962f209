"""Write outputs whole or not at all.

A job killed half-way (Ctrl-C, SLURM time limit, a full disk) must never leave a
file that looks finished.  Everything the package writes goes to a temporary
file in the destination's own directory (so the final ``os.replace`` is an
atomic rename on the same filesystem) and is renamed only once complete.

Temporary names are ``.<name>.<random>.tmp<suffix>`` (hidden, and never matching
an output pattern).  A job killed with SIGKILL cannot remove its temporary
file, so the next write of the same output removes such leftovers first.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` on success.

    On any exception the temporary file is removed and ``dest`` is untouched.
    The temporary name keeps ``dest``'s suffix so writers that infer the format
    from the extension (AnnData, NumPy, matplotlib) behave the same.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temp_files(dest):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def temp_pattern(dest: str | Path) -> str:
    """Glob pattern of the temporary files :func:`atomic_path` makes for ``dest``."""
    dest = Path(dest)
    return str(dest.parent / f".{glob.escape(dest.name)}.*.tmp{glob.escape(dest.suffix)}")


def stale_temp_files(dest: str | Path) -> list[Path]:
    """Temporary files left beside ``dest`` by an earlier, killed write."""
    return [Path(p) for p in glob.glob(temp_pattern(dest))]
