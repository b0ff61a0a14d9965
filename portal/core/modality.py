"""The modality interface: what a kind of challenge data (DICOM images, tables and time
series) provides to the pipeline, so that the stages and the commands never branch on it.

A data card names its kind (``data_kind: dicom`` or ``tabular``);
:func:`portal.ingest.modalities.modality` gives the :class:`Modality` that reads,
de-identifies, verifies and stages that kind. Each modality keeps its de-identifier and
its independent verifier apart (they share no code); the interface only says what goes
in and what comes out.

Ingest is behind the interface for both kinds. Releases, reproductions and the site are
DICOM-shaped today; the tabular modality's release writer and figures are its own
(``portal.tabular``) and join the interface as they are wired into the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: The kinds of data a card may declare, in the order they joined the portal.
KINDS = ("dicom", "tabular")


@dataclass
class IngestReport:
    """What one ingest did, for the command to print and a caller to check."""

    staging: Path
    #: (label, value) rows of the summary table, in the order shown
    rows: list[tuple[str, str]]
    #: lines printed after the table (quarantine groups, verifier verdicts, ...)
    notes: list[str] = field(default_factory=list)
    #: the modality's own summary object (``IngestSummary``, ``TabularIngest``)
    detail: Any = None


class Modality(Protocol):
    """One kind of challenge data."""

    kind: str

    def ingest(
        self,
        challenge: str,
        export: Path,
        out: Path,
        *,
        card: Any,
        key: bytes,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        allow_shrink: bool = False,
    ) -> IngestReport:
        """Validate ``export`` against the card's schema, de-identify it, verify the result
        independently and stage it under ``out/staging`` (all or nothing)."""
        ...
