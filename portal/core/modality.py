"""The modality interface: what a kind of challenge data (DICOM images, tables and time
series) provides to the pipeline, so that the stages and the commands never branch on it.

A data card names its kind (``data_kind: dicom`` or ``tabular``);
:func:`portal.ingest.modalities.modality` gives the :class:`Modality` that reads,
de-identifies, verifies and stages that kind. Each modality keeps its de-identifier and
its independent verifier apart (they share no code); the interface only says what goes
in and what comes out.

Ingest and release are behind the interface for both kinds. Ingest's side is
:class:`Modality` (``portal/ingest/modalities.py``); the release's side is
:class:`ReleasePart` (``portal/release/modalities.py``, one per kind): the generic
machinery of ``portal release`` (versions, changelog, the verifier re-run, the atomic
build, manifest and seal, label commitments, citations, read-only, idempotence) asks it
what the data files, the dataset card and a diff between versions are for its kind.
Reproductions (``portal/reproduce/modalities.py``: the reference and the teams' view of a
release) and the site (``portal/site/modality.py``: which statistics, figures and
sections a page shows) choose their part by the same ``data_kind``.
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


@dataclass
class Staged:
    """What the generic release machinery reads of a checked staging, whatever its kind."""

    #: one record (an exam, a surgery) -> its label columns as text ("" when unknown); the
    #: key ``label`` holds the class the label commitments commit to
    labels: dict[str, dict[str, str]]
    #: one record -> its split
    splits: dict[str, str]
    #: the label columns committed to beside ``label`` (the card's hard-case flags...)
    commit_fields: tuple[str, ...]
    #: the pseudonymisation key's public id, recorded in manifest.json
    key_id: str
    #: what the records are, for the command's summary ("exams", "surgeries")
    unit: str


@dataclass
class Written:
    """What a modality wrote into a release being built, for its descriptors."""

    #: records per split, in the card's split order
    counts: dict[str, int]
    #: the modality's own figures, handed back to it when it writes the dataset card
    detail: Any = None


class Changes(Protocol):
    """What differs from the parent version, computed from the data (``changes.json``)."""

    @property
    def required_bump(self) -> str | None: ...

    @property
    def empty(self) -> bool: ...

    def to_dict(self) -> dict: ...

    def to_markdown(self, version: str, note: str = "") -> str: ...


class ReleasePart(Protocol):
    """The release's side of one kind of challenge data: what is checked in the staging,
    which data files and dataset card a release holds, and what a diff compares."""

    kind: str

    def check(self, staging: Path, card: Any) -> Staged:
        """Check the staging (made by ``portal ingest``, verified) and read its labels and
        splits; a bad staging raises a one-line error naming the file and the fix."""
        ...

    def reverify(self, staging: Path, export: Path, card: Any) -> None:
        """Run the modality's independent verifier on the staging against the export once
        more; raise ``VerificationError`` on any finding."""
        ...

    def write_data(
        self,
        out: Path,
        staging: Path,
        staged: Staged,
        *,
        card: Any,
        withheld: list[str],
        text: Any,
        progress: Callable[[int], None] | None = None,
    ) -> Written:
        """Write the data files (and the deid report) into the empty build folder ``out``;
        labels of ``withheld`` splits are left out. ``text`` is what the descriptors quote
        (version, date, notes, citation, with the content-hash placeholder)."""
        ...

    def compare(
        self,
        parent: Path | None,
        parent_version: str | None,
        parent_files: dict[str, str] | None,
        out: Path,
        staged: Staged,
        withheld: list[str],
        files: dict[str, str],
        card: Any,
    ) -> Changes:
        """What changed from the published ``parent`` folder to the release built in
        ``out``; ``files`` are both releases' data files by path -> sha256."""
        ...

    def write_descriptors(self, out: Path, written: Written, text: Any) -> None:
        """Write the kind's own descriptors (the dataset card, Croissant) if
        :meth:`write_data` did not; they quote the content-hash placeholder."""
        ...


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
        on_phase: Callable[[str], None] | None = None,
        allow_shrink: bool = False,
    ) -> IngestReport:
        """Validate ``export`` against the card's schema, de-identify it, verify the result
        independently and stage it under ``out/staging`` (all or nothing). ``progress`` and
        ``on_total`` count the work done; ``on_phase`` names the step under way, for
        modalities whose steps do not count records one by one."""
        ...
