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
from collections.abc import Iterable, Iterator
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


def json_list_lines(items: Iterable, indent: int, depth: int) -> Iterator[str]:
    """The text ``json.dumps`` gives a list of ``items`` at nesting ``depth`` with
    ``indent``, in pieces: the same bytes, without the list in memory."""
    pad = " " * (indent * (depth + 1))
    first = True
    for item in items:
        text = json.dumps(item, indent=indent).replace("\n", "\n" + pad)
        yield ("[\n" if first else ",\n") + pad + text
        first = False
    yield "[]" if first else "\n" + " " * (indent * depth) + "]"


_FILES = "\x00files\x00"  # where the streamed list of outcomes goes in the report's text


def write_report(path: Path, report: dict, files: Iterable[dict]) -> DeidReport:
    """Check ``report`` (its ``files`` aside) against the model, then write it as
    ``json.dumps(report, indent=2)`` would, with the per-file outcomes ``files`` streamed
    into its ``files`` list: the same bytes, without the list in memory."""
    checked = DeidReport.model_validate({**report, "files": []})
    text = json.dumps({**report, "files": _FILES}, indent=2) + "\n"
    head, tail = text.split(json.dumps(_FILES), 1)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(head)
        for piece in json_list_lines(files, 2, 1):
            handle.write(piece)
        handle.write(tail)
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
