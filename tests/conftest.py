"""Shared fixtures (the repository root, the real HER2ST and DLPFC data beside it, skipped when absent) and the order files run in."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_HER2ST = REPO.parent / "shared" / "data" / "her2st"
SHARED_DLPFC = REPO.parent / "shared" / "data" / "dlpfc"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def her2st_root() -> Path:
    """``../shared/data/her2st`` (the almaan/her2st layout); tests using it skip when it is absent."""
    if not (SHARED_HER2ST / "data" / "ST-cnts").is_dir():
        pytest.skip(f"real HER2ST data not found at {SHARED_HER2ST}")
    return SHARED_HER2ST


@pytest.fixture(scope="session")
def dlpfc_root() -> Path:
    """``../shared/data/dlpfc`` (151673.h5ad, 151674.h5ad); tests using it skip when it is absent."""
    if not (SHARED_DLPFC / "151673.h5ad").is_file():
        pytest.skip(f"real DLPFC data not found at {SHARED_DLPFC}")
    return SHARED_DLPFC


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the files of SLURM tests first, then those with whole-pipeline (slow) tests, then the rest.

    ``make test`` runs two pytest-xdist workers that take whole files in collection order: the
    long files started first leave the many short ones to fill in at the end, where otherwise a
    10-minute file started last would keep one worker busy while the other idles.
    """
    marks: dict[Path, set[str]] = {}
    for item in items:
        marks.setdefault(item.path, set()).update(m.name for m in item.iter_markers())

    def rank(item: pytest.Item) -> int:
        return 0 if "slurm" in marks[item.path] else 1 if "slow" in marks[item.path] else 2

    items.sort(key=rank)  # stable: a file's tests keep their order
