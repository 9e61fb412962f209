"""Check the merged configuration before any job starts, with one line per problem.

Snakemake's own ``validate`` prints the whole schema and the whole config on a
failure; here the message names the key (``train.k``), what is wrong with its
value, and the config file the value came from, e.g.::

    config/my.yaml: train.k is -1; it must be at least 1. Fix train.k in config/my.yaml.

A key the schema does not know stops the run too, at any depth: a misspelt
``trian:`` or ``train: {epoch: 3}`` would otherwise be ignored and the run go on
with the defaults while the user believes their setting applied.  The message
names the key, the file that set it and the nearest valid key::

    my.yaml: unknown config key train.epoch. Did you mean train.epochs? ...
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from senca_st.errors import InputError

_TYPE_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a text (string)",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping of keys",
    "null": "empty",
}


def _show(path: str | Path) -> str:
    """A config file path as the user would type it: relative to the working directory where possible."""
    p = Path(path)
    try:
        return os.path.relpath(p) if p.is_absolute() and not os.path.relpath(p).startswith("..") else str(p)
    except ValueError:
        return str(p)


def _load(path: str | Path) -> Mapping[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, Mapping) else {}


_MISSING = object()


def _lookup(data: Any, key: Sequence[str | int]) -> Any:
    for part in key:
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return _MISSING
    return data


def source_of(key: Sequence[str | int], config_files: Sequence[str | Path], config: Mapping[str, Any] | None = None) -> str | None:
    """Where the run's value of ``key`` came from: one of ``config_files`` (lowest precedence first), or None.

    None means no file sets it, or (given ``config``) the last file that sets it
    holds another value, so it came from ``--config`` on the command line.
    """
    found, value = None, _MISSING
    for f in config_files:
        v = _lookup(_load(f), key)
        if v is not _MISSING:
            found, value = _show(f), v
    if found and config is not None and _lookup(config, key) != value:
        return None
    return found


def _dotted(key: Iterable[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(error) -> str:
    """A jsonschema error in plain words, to follow the key's name."""
    v, kind, value = error.validator_value, error.validator, error.instance
    if kind == "type":
        types = [v] if isinstance(v, str) else list(v)
        return f"is {value!r}; it must be {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}"
    if kind == "minimum":
        return f"is {value!r}; it must be at least {v}"
    if kind == "exclusiveMinimum":
        return f"is {value!r}; it must be greater than {v}"
    if kind == "maximum":
        return f"is {value!r}; it must be at most {v}"
    if kind == "exclusiveMaximum":
        return f"is {value!r}; it must be less than {v}"
    if kind == "enum":
        return f"is {value!r}; use one of {', '.join(map(str, v))}"
    if kind == "pattern" and error.schema.get("description"):
        return f"is {value!r}; it must be {error.schema['description']}"
    if kind == "pattern":
        return f"is {value!r}, which does not match {v!r}"
    if kind == "minItems":
        return f"has {len(value)} entries; it needs at least {v}"
    if kind == "uniqueItems":
        return f"is {value!r}; each entry may appear only once"
    return f"is {value!r}: {error.message}"


def check_config(config: Mapping[str, Any], schema: str | Path, config_files: Sequence[str | Path] = ()) -> None:
    """Raise :class:`InputError` for the first unknown key, else for the first schema violation.

    Unknown keys come first: a misspelt block (``trian:``) also leaves its
    required keys "missing", and the spelling is the fix.

    ``config_files`` are the YAML files merged into ``config``, lowest precedence
    first (the Snakefile's ``configfile:``, then each ``--configfile``); they are
    only read to say which file a wrong value came from.
    """
    import jsonschema

    schema_data = yaml.safe_load(Path(schema).read_text())
    validator = jsonschema.Draft202012Validator(schema_data)
    files = [_show(f) for f in config_files]
    given = ", ".join(files) if files else "the config"
    _refuse_unknown_keys(config, schema_data, config_files)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        error = errors[0]
        key = list(error.path)
        if error.validator == "required":
            missing = next(r for r in error.validator_value if r not in error.instance)
            dotted = _dotted([*key, missing])
            raise InputError(
                given,
                f"config key {dotted} is missing",
                "Add it to one of these files (src/senca_st/defaults.yaml lists every key with its default).",
            )
        dotted = _dotted(key)
        where = source_of(key, config_files, config) or "--config"
        raise InputError(where, f"{dotted} {_describe(error)}", f"Fix {dotted} in {where}.")


def _refuse_unknown_keys(config: Mapping[str, Any], schema: Mapping[str, Any], config_files: Sequence[str | Path]) -> None:
    """Raise :class:`InputError` for the first key (depth first, in file order) the schema does not list."""

    def walk(data: Any, node: Mapping[str, Any], key: list[str]) -> None:
        props = node.get("properties")
        if not isinstance(data, Mapping) or not props:
            return
        for name, value in data.items():
            if name in props:
                walk(value, props[name], [*key, name])
                continue
            dotted = _dotted([*key, name])
            where = source_of([*key, name], config_files, config) or "--config"
            near = difflib.get_close_matches(str(name), list(props), n=1, cutoff=0.6)
            guess = f"Did you mean {_dotted([*key, near[0]])}? " if near else ""
            raise InputError(
                where,
                f"unknown config key {dotted}",
                f"{guess}Valid keys{' of ' + _dotted(key) if key else ''}: {', '.join(props)} "
                "(src/senca_st/defaults.yaml lists every key with its default).",
            )

    walk(config, schema, [])


def config_files_in_order(workflow_configfiles: Sequence[str | Path], overwrite_configfiles: Sequence[str | Path]) -> list[str]:
    """Snakemake's config files, lowest precedence first: the Snakefile's ``configfile:``, then ``--configfile``.

    ``workflow.configfiles`` lists the command-line files first; they override the
    Snakefile's own file.
    """
    cli = [str(f) for f in overwrite_configfiles]
    own = [str(f) for f in workflow_configfiles if str(f) not in cli]
    return own + cli


def spots_needed(train: Mapping[str, Any], section_methods: Iterable[str], n_clusters: int) -> dict[str, int]:
    """The fewest spots a section needs: ``k + 1`` for the largest SENCA-st graph, and ``n_clusters``.

    ``n_clusters`` is the number of regions asked for (0: from the labels, known
    only once the section is read).  Returned as a small mapping so the
    preprocess step can say which requirement a section fails.
    """
    from senca_st.method import catalogue as methods
    from senca_st.method.neighbourhood import LARGEST_RING

    k = 0
    for name in section_methods:
        if methods.method(name).kind == "senca":
            value = methods.train_settings(dict(train), name)["k"]
            k = max(k, LARGEST_RING if value == "auto" else int(value))
    return {"graph_k": k, "n_clusters": int(n_clusters)}
