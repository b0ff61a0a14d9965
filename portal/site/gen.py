"""The mkdocs-gen-files script: generates every page at build time (nothing is committed).

``mkdocs build`` runs it from the project root; ``PORTAL_SITE_ROOT`` points it at
another project (the tests and the benchmark build sites of their own).
"""

from __future__ import annotations

import os
from pathlib import Path

import mkdocs_gen_files
from mkdocs.structure.files import InclusionLevel

from portal.site.build import generate


def _write(path: str, content: str | bytes) -> None:
    mode = "wb" if isinstance(content, bytes) else "w"
    with mkdocs_gen_files.open(path, mode) as handle:
        handle.write(content)


generate(Path(os.environ.get("PORTAL_SITE_ROOT") or Path.cwd()), _write)
# SUMMARY.md feeds mkdocs-literate-nav; it is the navigation, not a page of its own.
mkdocs_gen_files.FilesEditor.current().files.get_file_from_path(
    "SUMMARY.md"
).inclusion = InclusionLevel.EXCLUDED
