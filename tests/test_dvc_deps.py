"""Each ``dvc.yaml`` stage depends on all the code its command runs, data files included.

A stage whose deps miss a module it imports keeps stale outputs when that module
changes: in a privacy pipeline, a change to the de-identification vocabulary that
``dvc repro`` silently ignores. The closure is computed, not listed: the ``portal``
command of each stage is found in ``portal/cli.py``, then every ``portal`` module it
imports (at the top of the CLI, in the command's body, and transitively anywhere in
those modules, lazy imports included, package ``__init__`` files too), then the data
files of the packages it reaches. Each file must lie under one of the stage's deps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.test_boundaries import imports, modules

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "portal" / "cli.py"


def commands() -> dict[str, ast.FunctionDef]:
    """``portal`` command name (``ingest``, ``site build``) -> its function in cli.py."""
    tree = ast.parse(CLI.read_text())
    groups = {"app": ""}
    for node in ast.walk(tree):  # app.add_typer(site_app, name="site")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_typer"
        ):
            name = next(k.value.value for k in node.keywords if k.arg == "name")
            groups[node.args[0].id] = f"{name} "
    found = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if (
                isinstance(decorator, ast.Call)
                and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == "command"
                and isinstance(decorator.func.value, ast.Name)
                and decorator.func.value.id in groups
            ):
                name = decorator.args[0].value if decorator.args else node.name.replace("_", "-")
                found[groups[decorator.func.value.id] + name] = node
    return found


def _imported_by(node: ast.AST) -> set[str]:
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.ImportFrom) and child.module:
            names.add(child.module)
            names.update(f"{child.module}.{alias.name}" for alias in child.names)
        elif isinstance(child, ast.Import):
            names.update(alias.name for alias in child.names)
    return names


def closure(command: str) -> set[Path]:
    """The files ``portal <command>`` may run or read."""
    known = modules()
    everything = commands()
    target = everything[command]
    others = {node.name for node in everything.values() if node.name != target.name}
    body = ast.parse(CLI.read_text()).body
    helpers = {
        node.name: node
        for node in body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name not in others
    }
    # the CLI's module-level code, the command, and the helpers the command calls (their
    # lazy imports run only for the commands that call them)
    used, todo_helpers = set(), [target.name]
    while todo_helpers:
        name = todo_helpers.pop()
        if name in used:
            continue
        used.add(name)
        named = {n.id for n in ast.walk(helpers[name]) if isinstance(n, ast.Name)}
        todo_helpers += [h for h in named if h in helpers]
    start = set()
    for node in body:
        if getattr(node, "name", None) in others:
            continue
        if getattr(node, "name", None) in helpers and node.name not in used:
            continue
        start |= _imported_by(node)
    todo = [name for name in start if name in known]
    seen = {"portal.cli"}  # its own imports were taken above, command by command
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages' __init__
        todo += [m for m in imports(known[name]) if m in known]
    files = {known[name] for name in seen}
    packages = {path.parent for path in files}
    for path in (ROOT / "portal").rglob("*"):  # data files of the packages reached
        cache = "__pycache__" in path.parts
        if path.is_file() and path.suffix not in (".py", ".pyc") and not cache:
            owner = next(p for p in path.parents if (p / "__init__.py").exists())
            if owner in packages:
                files.add(path)
    for path in (ROOT / "portal").rglob("in_sandbox/*.py"):  # copied into the sandbox, not imported
        if path.parent.parent in packages:
            files.add(path)
    return files


def stages() -> dict[str, tuple[str, list[str]]]:
    """Stage name -> (the portal command, its deps as written in dvc.yaml)."""
    pipeline = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, stage in pipeline.items():
        body = stage.get("do", stage)
        words = body["cmd"].split()
        assert words[0] == "portal", f"stage {name} does not run a portal command"
        command = " ".join(words[1:3]) if words[1] == "site" else words[1]
        deps = [dep if isinstance(dep, str) else next(iter(dep)) for dep in body.get("deps", [])]
        found[name] = (command, deps)
    return found


def test_every_stage_runs_a_known_command():
    known = commands()
    assert {"ingest", "release", "reproduce", "publish", "synth", "site build"} <= set(known)
    for name, (command, _) in stages().items():
        assert command in known, f"stage {name}: `portal {command}` is not in portal/cli.py"


@pytest.mark.parametrize("stage", sorted(stages()))
def test_the_stage_depends_on_all_the_code_it_runs(stage):
    command, deps = stages()[stage]
    covered = [ROOT / dep for dep in deps if "${" not in dep.split("/")[0]]
    missing = sorted(
        str(path.relative_to(ROOT))
        for path in closure(command)
        if not any(path == dep or dep in path.parents for dep in covered)
    )
    assert not missing, (
        f"dvc.yaml stage {stage} (`portal {command}`) does not depend on {missing}: "
        "a change there would leave its outputs stale. Add the folder to its deps."
    )


def test_the_closure_sees_what_a_stage_needs():
    """The check above is only as good as the closure: the ingest command reaches the
    Clean Descriptors vocabulary and the verifier; the release command reaches the
    commitments (a lazy import chain) but not the sandbox."""
    ingest = {str(p.relative_to(ROOT)) for p in closure("ingest")}
    assert {"portal/deid/descriptor_words.txt", "portal/verify_deid/rawdicom.py"} <= ingest
    assert "portal/deid/keys.py" in ingest and "portal/cli.py" in ingest
    release = {str(p.relative_to(ROOT)) for p in closure("release")}
    assert "portal/release/commitment.py" in release
    assert "portal/reproduce/sandbox.py" not in release
    reproduce = {str(p.relative_to(ROOT)) for p in closure("reproduce")}
    assert "portal/reproduce/in_sandbox/sitecustomize.py" in reproduce
