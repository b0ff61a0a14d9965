"""The package layout is the pipeline: a stage imports the stages before it, never after.

``portal/`` holds one subpackage per stage (docs/architecture.md). These tests read the
imports of every module (top-level and inside functions) with ``ast``, so a forward
reference or a shortcut from the verifier into the de-identifier fails here, not in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[1] / "portal"

#: the order of the data flow; a package may import its own rank and below
RANK = {
    "errors": 0,
    "config": 0,
    "core": 0,
    "export": 1,
    "deid": 2,
    "verify_deid": 2,
    "ingest": 3,
    # the tabular modality (ML-KIDCAR): its own export reader, de-identifier, independent
    # verifier and ingest, at the ingest stage's rank; portal/ingest/modalities.py holds it
    # and the DICOM path behind one interface (portal/core/modality.py)
    "tabular": 3,
    "release": 4,
    "reproduce": 5,
    "publish": 6,
    "site": 7,
}
#: beside the pipeline: the synthetic export is made for it, never read by it
BESIDE = {"synth"}


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found = {}
    for path in sorted(PORTAL.rglob("*.py")):
        parts = path.relative_to(PORTAL.parent).with_suffix("").parts
        if "in_sandbox" in parts:  # runs inside the sandbox, on the system Python, imports nothing
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (lazy imports included)."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import; the portal imports absolutely")
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    return imported


def portal_imports(path: Path) -> set[str]:
    """The ``portal`` modules a file imports (``from portal.x import y`` gives ``portal.x``,
    and ``portal.x.y`` when ``y`` is a module)."""
    known = modules()
    return {name for name in imports(path) if name in known and name != "portal"}


def package_of(module: str) -> str:
    """``portal.release.cards`` -> ``release``; ``portal.cli`` -> ``cli``."""
    return module.split(".")[1]


def test_every_module_belongs_to_a_known_package():
    packages = {package_of(name) for name in modules() if name != "portal"}
    assert packages <= set(RANK) | BESIDE | {"cli"}, packages - set(RANK) - BESIDE


@pytest.mark.parametrize("module", sorted(name for name in modules() if name != "portal"))
def test_a_stage_never_imports_a_later_stage(module):
    own = package_of(module)
    if own == "cli":  # the command line sits above every stage
        return
    path = modules()[module]
    for imported in sorted(portal_imports(path)):
        other = package_of(imported)
        if other == own:
            continue
        assert other not in BESIDE or own in BESIDE, (
            f"{module} imports {imported}: the pipeline never reads the synthetic generator"
        )
        if own in BESIDE:
            assert RANK.get(other, 99) == 0, f"{module} imports {imported}: synth uses core only"
            continue
        assert other != "cli", f"{module} imports the command line"
        assert RANK[other] <= RANK[own], (
            f"{module} ({own}, stage {RANK[own]}) imports {imported} ({other}, stage "
            f"{RANK[other]}): a stage reads the stages before it, never after"
        )


def test_the_verifier_and_the_deidentifier_share_no_code():
    """The verifier must not trust the de-identifier's code path: ``verify_deid/`` reads files
    with its own byte-level reader (pydicom only for encodings that reader refuses) and imports
    nothing of the portal but itself and the process-pool factory (which knows no DICOM)."""
    found = modules()
    for module, path in found.items():
        imported = portal_imports(path)
        if module.startswith("portal.verify_deid"):
            outside = {name for name in imported if not name.startswith("portal.verify_deid")}
            assert outside <= {"portal.core.workers"}, (module, outside)
        if module.startswith("portal.deid"):
            assert not {name for name in imported if name.startswith("portal.verify_deid")}, module
    assert portal_imports(found["portal.core.workers"]) == set()


def test_portal_imports_sees_lazy_imports(tmp_path):
    """The checks above are only as good as the import reader: it must see an import
    inside a function, and both spellings of a from-import."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f():\n    from portal.deid import profile\n\n"
        "import portal.release.cards\nfrom portal.core.atomic import write_text\n"
    )
    assert portal_imports(sample) == {
        "portal.deid",
        "portal.deid.profile",
        "portal.release.cards",
        "portal.core.atomic",
    }
