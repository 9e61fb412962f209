"""Every default lives in one place, ``src/senca_st/defaults.yaml``, and nothing else repeats or overrides it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from senca_st.defaults import DEFAULTS_FILE, default, defaults, load_config, merged
from senca_st.method.catalogue import RUN_LIST_KEYS
from senca_st.method.training import DEFAULT_SETTINGS
from workflow_copy import REPO

SCHEMA = REPO / "config" / "schemas" / "config.schema.yaml"
#: Keys with no default on purpose: the sample sheet is the user's (config/config.yaml names it);
#: train.seed, when set, replaces the seed list (the older single-seed form).
NO_DEFAULT = {"samples", "train.seed"}


def schema_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted keys of every leaf setting the schema describes."""
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        if sub.get("type") == "object" and "properties" in sub:
            yield from schema_keys(sub, key + ".")
        else:
            yield key


def leaf_keys(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for name, value in data.items():
        if isinstance(value, Mapping):
            yield from leaf_keys(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def test_the_defaults_file_sets_every_key_the_schema_knows_and_no_other():
    known = set(schema_keys(yaml.safe_load(SCHEMA.read_text())))
    assert set(leaf_keys(defaults())) == known - NO_DEFAULT


def test_the_library_takes_its_training_defaults_from_the_file():
    train = defaults()["train"]
    assert DEFAULT_SETTINGS == {**{k: v for k, v in train.items() if k not in RUN_LIST_KEYS}, "seed": train["seeds"][0]}
    assert default("train.k") == train["k"] and default("preprocess.n_top_genes") == defaults()["preprocess"]["n_top_genes"]


def test_the_snakefile_loads_the_defaults_first_then_the_users_file():
    text = (REPO / "Snakefile").read_text()
    files = re.findall(r'^configfile: "([^"]+)"', text, flags=re.M)
    assert files == [str(DEFAULTS_FILE.relative_to(REPO)), "config/config.yaml"]


def test_no_rule_falls_back_to_a_default_of_its_own():
    sources = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    fallback = re.compile(r"config(\[[^\]]+\])*\.get\(")
    found = [f"{p.name}:{i}" for p in sources for i, line in enumerate(p.read_text().splitlines(), 1) if fallback.search(line)]
    assert not found, f"config fallbacks in the rules: {found}"


def test_overlays_replace_only_what_they_name(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text("train:\n  epochs: 3\n")
    config = load_config(REPO / "config" / "config.yaml", overlay)
    assert config["train"]["epochs"] == 3 and config["train"]["k"] == default("train.k")
    assert config["samples"] == "config/samples.tsv"
    assert merged({"a": {"b": 1, "c": 2}}, {"a": {"b": 5}}) == {"a": {"b": 5, "c": 2}}
