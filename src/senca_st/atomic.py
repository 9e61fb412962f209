"""Write outputs whole or not at all.

A job killed half-way (Ctrl-C, SLURM time limit, a full disk) must never leave a
file that looks finished.  Everything the package writes goes to a temporary
file in the destination's own directory (so the final ``os.replace`` is an
atomic rename on the same filesystem) and is renamed only once complete.
"""

from __future__ import annotations

import contextlib
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
