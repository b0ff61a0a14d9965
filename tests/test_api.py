"""The library API in ``portal/__init__.py``: every name resolves, lazily."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import portal


@pytest.mark.parametrize("name", sorted(portal.API))
def test_every_api_name_resolves_to_a_documented_callable(name):
    value = getattr(portal, name)
    assert callable(value), name
    assert inspect.getdoc(value), f"portal.{name} has no docstring"


def test_no_api_name_is_shadowed_by_a_subpackage():
    """Importing ``portal.ingest.staging`` sets ``portal.ingest`` to the package: an API
    name equal to a subpackage's would then silently resolve to the package."""
    packages = {path.parent.name for path in Path(portal.__file__).parent.glob("*/__init__.py")}
    assert not packages & set(portal.API)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        portal.nothing_here  # noqa: B018


def test_importing_portal_loads_no_stage():
    """``import portal`` must stay cheap: the stages load on first use only."""
    code = "import sys, portal; print(sorted(m for m in sys.modules if m.startswith('portal.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
