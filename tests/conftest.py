"""Shared fixtures: the repository root and the real HER2ST data beside it (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_HER2ST = REPO.parent / "shared" / "data" / "her2st"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def her2st_root() -> Path:
    """``../shared/data/her2st`` (the almaan/her2st layout); tests using it skip when it is absent."""
    if not (SHARED_HER2ST / "data" / "ST-cnts").is_dir():
        pytest.skip(f"real HER2ST data not found at {SHARED_HER2ST}")
    return SHARED_HER2ST
