"""The CLI's exit codes all come from ``portal/errors.py``: no bare number anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "portal" / "cli.py"


def test_no_exit_code_is_a_bare_number():
    found = []
    for node in ast.walk(ast.parse(CLI.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("Exit", "exit")
        ):
            for argument in node.args:
                if isinstance(argument, ast.Constant) and argument.value not in (0, None):
                    found.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not found, f"use an exception's exit_code or an EXIT_* constant: {found}"


def test_no_library_module_defines_an_exit_code():
    """Exit codes belong to portal/errors.py alone (the table in docs/cli.md)."""
    root = CLI.parent
    for path in root.rglob("*.py"):
        if path.name == "errors.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                assert "exit_code" not in names, f"{path}: defines exit_code"
