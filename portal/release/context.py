"""What the generic release machinery tells a modality's release part about the release
being built (``portal/release/build.py`` fills it, ``portal/release/dicom.py`` and
``portal/release/tabular.py`` read it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from portal.release.cards import Card


@dataclass(frozen=True)
class ReleaseContext:
    """The release's version, date, notes and citation; the diff and the manifest of the
    payload once they are known (``dataclasses.replace`` adds them)."""

    challenge: str
    card: Card
    version: str
    date: str
    notes: str
    #: ``sha256:`` + the placeholder while building: ``manifest.seal`` writes the hash
    content_hash: str
    #: the BibTeX entry, which quotes ``content_hash``
    cite: str
    withheld: list[str]
    #: the card says the records are synthetic (never inferred from the key)
    synthetic: bool
    releases: Path
    parent_version: str | None = None
    note: str = ""
    changes: object = None
    payload: object = None  # the manifest of the files before the descriptors
    files: dict[str, str] = field(default_factory=dict)  # path -> sha256 of that payload
