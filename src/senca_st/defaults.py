"""Every setting's default, read from one file: ``defaults.yaml`` beside this module.

The workflow loads that file first (the Snakefile's first ``configfile:``), then
``config/config.yaml`` and each ``--configfile`` overlay, so a rule reads
``config[...]`` and never a fallback of its own.  The library reads the same
file for what is called without a config (``training.DEFAULT_SETTINGS``, the
benchmarks' base settings), so a default changed there changes everywhere.
The file ships inside the package: an installed senca-st has its defaults too.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


@functools.cache
def _read() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_FILE.read_text())


def defaults() -> dict[str, Any]:
    """The whole default configuration (a copy: the caller may change it)."""
    return copy.deepcopy(_read())


def default(key: str) -> Any:
    """One default by its dotted key, e.g. ``default("preprocess.n_top_genes")``: for library signatures."""
    value: Any = _read()
    for part in key.split("."):
        value = value[part]
    return copy.deepcopy(value)


def merged(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` laid over it, mapping by mapping, as Snakemake merges config files."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*files: str | Path) -> dict[str, Any]:
    """The defaults overlaid with ``files`` in order (e.g. ``config/config.yaml``, then an overlay)."""
    config = defaults()
    for f in files:
        config = merged(config, yaml.safe_load(Path(f).read_text()) or {})
    return config
