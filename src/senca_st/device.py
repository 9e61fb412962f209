"""Which torch device a step runs on: CUDA when present and allowed, else the CPU.

Feature extraction and training follow the same ``train.device`` setting, so a
GPU workstation uses its GPU for both and a laptop falls back to the CPU with
one note instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from senca_st.errors import InputError


def pick_device(requested: str | None, log: Callable[[str], None], purpose: str = "running") -> torch.device:
    """CUDA when present and asked for ('auto', 'cuda' or 'cuda:N'), else CPU (with a note if CUDA was asked for)."""
    requested = str(requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise InputError(None, f"train.device is {requested!r}", "Use auto, cpu or cuda.")
    if requested == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda" if requested == "auto" else requested)
    if requested.startswith("cuda"):
        log(f"NOTE: train.device is {requested} but no CUDA device is available; {purpose} on the CPU")
    return torch.device("cpu")
