"""One conda env per rule, and the envs agree with the code, constraints.txt and pyproject.toml.

conda channels may be unreachable where the tests run, so ``--use-conda`` is not
exercised here; these checks are static (plus one real install of the package
by a post-deploy script into a throwaway venv):

- every rule that runs something has ``conda:`` naming an existing file;
- every env file is valid YAML with a ``dependencies`` list;
- pins (``name=version``, pip ``name==version``) agree with constraints.txt, whose
  exact versions lie inside pyproject.toml's ranges;
- each env lists the third-party modules its rule's script needs: the script's
  own imports, the module-level imports of every ``senca_st`` module it
  reaches, and the imports inside the ``senca_st`` functions it calls;
- the ``senca_st`` package reaches the env through ``envs/<env>.post-deploy.sh``
  (``pip install --no-deps -e <repo>``), never through a relative path in the
  env's pip section: Snakemake copies the env file to
  ``<conda-prefix>/<hash>.yaml`` before ``conda env create`` and conda resolves
  relative pip paths against *that* file's directory, not ``envs/``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from functools import cache
from pathlib import Path

import pytest
import yaml

from workflow_copy import REPO, copy_workflow

SRC = REPO / "src"
PACKAGE = "senca_st"
# conda-forge names of packages whose PyPI name differs.
CONDA_ALIASES = {"pytorch": "torch", "pytorch-geometric": "torch-geometric", "pyg": "torch-geometric"}
ACTIONS = ("script", "shell", "run", "wrapper", "notebook", "cwl")


def normalise(name: str) -> str:
    name = re.sub(r"[-_.]+", "-", name.strip().lower())
    return CONDA_ALIASES.get(name, name)


# --------------------------------------------------------------------------- the rules


def _string_value(lines: list[str], i: int) -> str | None:
    """The string literal under directive line ``i`` (snakefmt puts it on the next line)."""
    inline = lines[i].split(":", 1)[1].strip()
    text = inline or (lines[i + 1].strip() if i + 1 < len(lines) else "")
    try:
        value = ast.literal_eval(text.rstrip(","))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def parse_rules(root: Path = REPO) -> dict[str, dict]:
    """Rule name -> {file, conda, script, action} from the Snakefile and rules/*.smk text."""
    rules: dict[str, dict] = {}
    for path in [root / "Snakefile", *sorted((root / "rules").glob("*.smk"))]:
        lines = path.read_text().splitlines()
        current = None
        for i, line in enumerate(lines):
            m = re.match(r"^(?:rule|checkpoint)\s+(\w+)\s*:", line)
            if m:
                current = rules.setdefault(m.group(1), {"file": path, "conda": None, "script": None, "action": None})
                continue
            if current is None:
                continue
            if line and not line[0].isspace():
                current = None
                continue
            d = re.match(r"^    (\w+)\s*:", line)
            if not d:
                continue
            directive = d.group(1)
            if directive == "conda":
                current["conda"] = _string_value(lines, i) or "<not a string literal>"
            elif directive in ACTIONS:
                current["action"] = directive
                if directive == "script":
                    current["script"] = _string_value(lines, i)
    return rules


@pytest.fixture(scope="module")
def rules(tmp_path_factory) -> dict[str, dict]:
    """The workflow's rules as Snakemake lists them, with their directives from the text."""
    wf = copy_workflow(tmp_path_factory.mktemp("envs") / "wf")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-rules", "--cores", "1"], cwd=wf, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, f"snakemake --list-rules failed:\n{proc.stdout}\n{proc.stderr}"
    listed = [ln.strip() for ln in proc.stdout.splitlines() if re.fullmatch(r"\s*\w+\s*", ln)]
    parsed = parse_rules(wf)
    unparsed = sorted(set(listed) - set(parsed))
    assert not unparsed, f"rules Snakemake lists but the .smk text parser did not find: {unparsed}"
    assert listed, proc.stdout
    return {name: parsed[name] for name in listed}


def env_path(rule: dict) -> Path:
    return (rule["file"].parent / rule["conda"]).resolve()


def test_every_rule_has_an_existing_conda_env(rules):
    problems = []
    for name, rule in rules.items():
        if rule["action"] is None:  # a target-only rule such as `all`
            continue
        if rule["action"] == "run":
            problems.append(f"{name}: uses run:, which cannot have a conda env; use script:")
        elif not rule["conda"]:
            problems.append(f"{name} ({rule['file'].name}): no conda: directive")
        elif not env_path(rule).is_file():
            problems.append(f"{name}: conda env {rule['conda']} not found ({env_path(rule)})")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- env files


def env_files() -> list[Path]:
    return sorted((REPO / "envs").glob("*.yaml"))


@cache
def load_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def env_packages(path: Path) -> tuple[dict[str, str | None], dict[str, str | None], list[str]]:
    """(conda name -> pinned version or None, pip name -> pinned version or None, raw pip lines)."""
    conda, pip, pip_raw = {}, {}, []
    for dep in load_env(path)["dependencies"]:
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                pip_raw.append(str(line))
                m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:==\s*([^\s;,]+))?", str(line))
                if m and not str(line).startswith("-"):
                    pip[normalise(m.group(1))] = m.group(2)
            continue
        m = re.match(r"^(?:[\w.-]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:={1,2}\s*([^\s=<>!,*]+))?", str(dep))
        assert m, f"{path.name}: cannot read dependency {dep!r}"
        conda[normalise(m.group(1))] = m.group(2)
    return conda, pip, pip_raw


def constraint_pins() -> dict[str, str]:
    """constraints.txt: the exact versions ``make install``, ``make test`` and CI install."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;,]+)", line)
        assert m, f"constraints.txt: {line!r} is not an exact name==version pin"
        pins[normalise(m.group(1))] = m.group(2)
    return pins


def pyproject_requirements() -> list[str]:
    """Every requirement of pyproject.toml: the dependencies and each extra's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]


def test_pyproject_gives_ranges_and_constraints_pin_inside_them():
    """A library pins nothing exactly (users install it beside their own scanpy); constraints.txt pins what is tested."""
    from packaging.requirements import Requirement

    pins = constraint_pins()
    problems = []
    for text in pyproject_requirements():
        req = Requirement(text)
        name = normalise(req.name)
        if any(spec.operator in ("==", "===") for spec in req.specifier):
            problems.append(f"pyproject.toml pins {text!r} exactly; give a range and pin it in constraints.txt")
        if name not in pins:
            problems.append(f"{req.name} has no pin in constraints.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"constraints.txt pins {req.name}=={pins[name]}, outside pyproject.toml's {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_file_is_valid(path):
    env = load_env(path)
    assert isinstance(env, dict), f"{path.name}: not a YAML mapping"
    assert isinstance(env.get("dependencies"), list) and env["dependencies"], f"{path.name}: no dependencies list"
    assert isinstance(env.get("channels", []), list), f"{path.name}: channels must be a list"
    conda, _, _ = env_packages(path)
    assert "python" in conda, f"{path.name}: pin python so scripts run on a known interpreter"


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_pins_agree_with_constraints(path):
    pins = constraint_pins()
    conda, pip, _ = env_packages(path)
    wrong = []
    for source, packages in (("conda", conda), ("pip", pip)):
        for name, version in packages.items():
            if name in pins and version != pins[name]:
                wrong.append(f"{source} {name}={version} but constraints.txt pins {name}=={pins[name]}")
    assert not wrong, f"{path.name}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", env_files(), ids=lambda p: p.name)
def test_env_pip_section_has_no_relative_paths(path):
    """Snakemake copies the env file into the conda prefix, so relative pip paths point elsewhere."""
    _, _, pip_raw = env_packages(path)
    relative = [ln for ln in pip_raw if re.match(r"^(-e\s+|--editable[= ]\s*)?\.{1,2}(/|$)", ln.strip()) or ln.strip() == "--no-deps"]
    assert not relative, (
        f"{path.name}: pip entries {relative} break under --use-conda: Snakemake copies the env file to "
        f"<conda-prefix>/<hash>.yaml and conda resolves relative paths from there (and --no-deps is not a "
        f"requirements-file option). Install the package in envs/{path.stem}.post-deploy.sh instead."
    )


# --------------------------------------------------------------------------- imports


@cache
def _module_ast(module: str) -> ast.Module | None:
    parts = module.split(".")
    base = SRC.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return ast.parse(candidate.read_text(), filename=str(candidate))
    return None


def _imports(nodes: list[ast.stmt], module: str = "", deep: bool = False) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) for import statements; ``deep`` walks into bodies too."""
    found = []
    stmts = [n for stmt in nodes for n in ast.walk(stmt)] if deep else list(nodes)
    for node in stmts:
        if isinstance(node, ast.If) and not deep and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside the package
                base = module.split(".")[: -node.level] if module else []
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names]))
            # `from senca_st import steps` imports the submodule senca_st.steps
            for a in node.names:
                if _module_ast(f"{target}.{a.name}") is not None:
                    found.append((f"{target}.{a.name}", []))
    return found


def _module_level(tree: ast.Module) -> list[ast.stmt]:
    """Statements that run on import: top level, and inside top-level if/try/with (not defs)."""
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # imports for type checkers only never run
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            out.append(node)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt) and not isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                    out.append(child)
        else:
            out.append(node)
    return out


def third_party_needed(script: Path) -> dict[str, str]:
    """Top-level third-party module -> why, for what the rule script needs at run time."""
    need: dict[str, str] = {}
    seen: set[str] = set()
    todo: list[tuple[str, list[str], str]] = []

    def note(target: str, names: list[str], why: str) -> None:
        top = target.split(".")[0]
        if top == PACKAGE:
            todo.append((target, names, why))
        elif top and top not in sys.stdlib_module_names and top != "__future__" and top != "snakemake":
            need.setdefault(top, why)

    tree = ast.parse(script.read_text())
    for target, names in _imports(_module_level(tree)):
        note(target, names, script.name)
    while todo:
        module, names, why = todo.pop()
        tree = _module_ast(module)
        if tree is None:
            continue
        if module not in seen:
            seen.add(module)
            for target, _ in _imports(_module_level(tree), module):
                note(target, [], f"{why} -> {module}")
            parent = module.rsplit(".", 1)[0]
            if parent != module and parent.startswith(PACKAGE):
                todo.append((parent, [], why))
        # imports inside the functions (and classes) the script calls from this module, and inside
        # what those import lazily in turn
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                for target, sub in _imports(node.body, module, deep=True):
                    note(target, sub, f"{why} -> {module}.{node.name}")
    return need


@cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution(module: str) -> str:
    return normalise(_distributions().get(module, [module])[0])


def test_each_env_lists_what_its_rule_imports(rules):
    problems = []
    checked = 0
    for name, rule in rules.items():
        if rule["action"] != "script" or not rule["conda"] or not env_path(rule).is_file():
            continue
        script = (rule["file"].parent / rule["script"]).resolve()
        if script.suffix != ".py" or not script.is_file():
            continue
        conda, pip, _ = env_packages(env_path(rule))
        listed = set(conda) | set(pip)
        checked += 1
        for module, why in sorted(third_party_needed(script).items()):
            dist = distribution(module)
            if dist not in listed:
                problems.append(f"{name}: {env_path(rule).name} lacks {dist} (import {module}: {why})")
    assert checked, "no rule with a Python script was checked"
    assert not problems, "\n".join(problems)


def test_import_analysis_follows_lazy_imports():
    """The checker itself: preprocess's script reaches scanpy only through a function-level import."""
    need = third_party_needed(REPO / "workflow/scripts/preprocess.py")
    assert "scanpy" in need and "anndata" in need and "snakemake" not in need


# --------------------------------------------------------------------------- the package in the env


def test_envs_install_the_package_by_post_deploy_script(rules):
    problems = []
    for name, rule in rules.items():
        if rule["action"] != "script" or not rule["conda"] or not env_path(rule).is_file():
            continue
        script = (rule["file"].parent / rule["script"]).resolve()
        if script.suffix == ".py" and PACKAGE in script.read_text():
            deploy = env_path(rule).with_name(env_path(rule).stem + ".post-deploy.sh")
            if not deploy.is_file():
                problems.append(f"{name}: its script imports {PACKAGE} but envs/{deploy.name} does not exist")
            elif not re.search(r"pip install[^\n]*--no-deps[^\n]*-e", deploy.read_text()):
                problems.append(f"{name}: {deploy.name} does not pip install --no-deps -e the repository")
    assert not problems, "\n".join(problems)


def test_post_deploy_script_installs_the_package(tmp_path):
    """Run a post-deploy script as Snakemake would (env's python first on PATH), from another directory."""
    deploy = REPO / "envs" / "cluster.post-deploy.sh"
    if not deploy.is_file():
        pytest.fail(f"{deploy} is missing")
    env_dir = tmp_path / "env"
    try:
        venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    except Exception as err:  # no ensurepip on this Python
        pytest.skip(f"cannot create a venv with pip here: {err}")
    # The env files bring a current setuptools from conda-forge; give the venv ours (no network here).
    import setuptools

    ours = Path(setuptools.__file__).parent.parent
    (site,) = env_dir.glob("lib/python*/site-packages")
    parts = ("setuptools*", "_distutils_hack", "distutils-precedence.pth")
    for old in [p for pattern in parts for p in site.glob(pattern)]:
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    for new in [p for pattern in parts for p in ours.glob(pattern)]:
        (shutil.copytree if new.is_dir() else shutil.copy2)(new, site / new.name)
    env = dict(os.environ, PATH=f"{env_dir / 'bin'}:{os.environ['PATH']}", SENCA_ST_ROOT=str(REPO), PIP_NO_INDEX="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", str(deploy)], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    where = subprocess.run(
        [env_dir / "bin/python", "-c", "import senca_st, sys; sys.stdout.write(senca_st.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout).resolve().is_relative_to(SRC.resolve())
