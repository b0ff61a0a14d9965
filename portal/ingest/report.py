"""``deid_report.json``: what a DICOM ingest did, defined once, checked where it is written
and where it is read.

``portal ingest`` writes it into the staging (:func:`write_report`), and every release
publishes it byte for byte; ``portal release`` reads it (:func:`read_report`) to refuse a
staging the verifier did not pass and to name the key a release was made with. The key
order of the file is the order of the fields below, so a release rebuilt by this code
holds the very bytes the first one did. A misspelt or missing key fails where the file
is written, and a report of another shape is refused, by name, where it is read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from portal.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Method(_Strict):
    code: str
    scheme: str
    meaning: str


class Profile(_Strict):
    """The de-identification profile applied, in DICOM's words (PS3.15, CID 7050)."""

    standard: str
    table: str
    methods: list[Method]
    retained_patient_characteristics: list[str]
    private_allowlist: list[str]
    uids: str
    dates: str
    #: public fingerprint of the key (portal.deid.keys.key_id), never the key
    key_id: str
    key_source: str


class Counts(_Strict):
    exams_in_export: int
    exams_staged: int
    files: int
    files_staged: int
    files_quarantined: int
    actions: dict[str, int]


class Verifier(_Strict):
    """The independent verifier's verdict on the staging: ``passed`` is None until it ran."""

    passed: bool | None
    independent: str | None = None
    files: int | None = None
    elements: int | None = None


class DeidReport(_Strict):
    challenge: str
    profile: Profile
    portal_version: str
    pydicom_version: str
    counts: Counts
    excluded_exams: list[str]
    #: quarantined files by stable code: count, meaning, fix
    quarantine: dict[str, dict[str, Any]]
    #: one outcome per input file: exam, index, status, and output or code/reason/fix
    files: list[dict[str, Any]]
    verifier: Verifier


def write_report(path: Path, report: dict) -> DeidReport:
    """Check ``report`` against the model, then write it (indent 2, the fields' order)."""
    checked = DeidReport.model_validate(report)
    data = checked.model_dump(exclude_none=False)
    if checked.verifier.passed is None:
        data["verifier"] = {"passed": None}  # before the verifier ran: its verdict only
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
    return checked


def read_report(path: Path) -> DeidReport:
    """The report of a staging or a release; InputError names what is wrong with it."""
    try:
        return DeidReport.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, UnicodeDecodeError) as error:
        problems = []
        if isinstance(error, ValidationError):
            problems = [
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:10]
            ]
        raise InputError(
            f"{Path(path).name} is not a de-identification report this portal reads.",
            path=path,
            problems=problems,
            hint="re-run `portal ingest`: it writes the report with the staging.",
        ) from None
