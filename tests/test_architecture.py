"""docs/ARCHITECTURE.md's import layers hold: checked on every module's imports (top level and inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from workflow_copy import REPO

PKG = REPO / "src" / "senca_st"

#: What each sub-package may import of the package besides itself (docs/ARCHITECTURE.md, "Imports").
MAY_IMPORT = {
    "errors": set(),
    "defaults": set(),
    "io": {"errors", "defaults"},
    "evaluation": {"errors", "defaults", "io"},
    "method": {"errors", "defaults", "device", "io", "evaluation", "samplesheet"},
    "report": {"errors", "defaults", "io", "evaluation", "method"},
}


def imported(path: Path) -> set[str]:
    """The senca_st sub-packages (first name after senca_st.) that ``path`` imports anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("senca_st."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "senca_st":
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("senca_st."))
    return names


def layer_of(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("layer", sorted(MAY_IMPORT))
def test_a_layer_imports_only_the_layers_above_it(layer):
    files = [PKG / f"{layer}.py"] if (PKG / f"{layer}.py").exists() else sorted((PKG / layer).rglob("*.py"))
    assert files
    wrong = {
        str(f.relative_to(PKG)): sorted(imported(f) - MAY_IMPORT[layer] - {layer})
        for f in files
        if imported(f) - MAY_IMPORT[layer] - {layer}
    }
    assert not wrong, f"imports docs/ARCHITECTURE.md does not allow: {wrong}"


def test_the_model_code_sees_only_the_method():
    for f in (PKG / "method" / "model").rglob("*.py"):
        assert imported(f) <= {"method"}, f
