"""Run ``dciodvfy`` (Debian ``dicom3tools``), the reference DICOM IOD validator, and parse it.

Findings are data: each line is kept, sorted into errors and warnings, so the
caller decides what blocks (an error does; a warning is reported).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from portal.errors import ToolMissingError

TOOL = "dciodvfy"


@dataclass(frozen=True)
class IodReport:
    """What ``dciodvfy`` said about one file."""

    path: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def available() -> bool:
    return shutil.which(TOOL) is not None


def check(path: Path, *, timeout: float = 60.0) -> IodReport:
    """Validate one DICOM file against its IOD."""
    exe = shutil.which(TOOL)
    if exe is None:
        raise ToolMissingError(
            f"{TOOL} is not installed; it validates DICOM files against the standard.",
            hint="run `make setup` as root, or `apt-get install dicom3tools`.",
        )
    result = subprocess.run(
        [exe, "-new", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        errors="replace",
        check=False,
    )
    lines = (result.stdout + result.stderr).splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    warnings = [line for line in lines if "Warning" in line]
    return IodReport(path=str(path), errors=errors, warnings=warnings)
