"""The export contract: what a challenge platform hands over, checked in full before any work.

``read_export`` reads ``labels.csv``, ``splits.csv``, ``clinical.csv`` and the
``exams/`` folders, and collects *every* problem (file, row, value, fix)
before raising one ``InputError``, so an organiser fixes the export in one pass.
A patient in two splits is an error, never a warning.

The same rules hold for the tables ``portal ingest`` stages: ``check_staging``
re-reads them before a release is built, so a staging edited by hand (a label
outside the challenge's classes, a short row, an exam without images) is refused
by name instead of being published.

Files are read as UTF-8; a byte-order mark at the start of an export table (as
spreadsheet programs write) is accepted and dropped. Symbolic links under
``exams/`` that lead outside the export, or nowhere, are refused: the portal
never reads or copies a file the export does not hold.
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from portal.core.schema import ChallengeSchema
from portal.errors import InputError

#: Exam and patient IDs become folder names, file names and URLs of the release.
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The contract's own integer columns (empty allowed), with their accepted range; a
#: challenge declares its own in its card (``task.fields``, ``portal.core.schema``).
INTEGERS = {"age": (0, 130), "weight_kg": (0, 500)}
SEXES = ("M", "F", "O")  # DICOM PatientSex
_BOOLEAN = ("true", "false")
BOM = b"\xef\xbb\xbf"
#: At most this many problems of one table are listed; the count says how many more.
MAX_PROBLEMS_PER_TABLE = 20


@dataclass
class Export:
    """A validated export: tables keyed by exam, and each exam's files."""

    root: Path
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)
    clinical: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def exam_ids(self) -> list[str]:
        return sorted(self.labels)

    def patient_of(self, exam_id: str) -> str:
        return self.labels[exam_id]["patient_id"]


class _Problems(list):
    """Problems found, capped per table so one broken file does not bury the others."""

    def __init__(self) -> None:
        super().__init__()
        self.per_table: dict[str, int] = defaultdict(int)

    def add(self, table: str, text: str) -> None:
        self.per_table[table] += 1
        if self.per_table[table] <= MAX_PROBLEMS_PER_TABLE:
            self.append(text)

    def close(self) -> None:
        for table, count in self.per_table.items():
            if count > MAX_PROBLEMS_PER_TABLE:
                self.append(f"{table}: {count - MAX_PROBLEMS_PER_TABLE} more problem(s) not listed")


def _read_table(
    root: Path,
    name: str,
    problems: _Problems,
    schema: ChallengeSchema,
    *,
    bom_ok: bool = True,
) -> list[tuple[int, dict[str, str]]] | None:
    """The complete rows of ``root/name`` with their line numbers; None when the file as a
    whole is unusable (then no other table is checked against it: no follow-on errors)."""
    path = root / name
    if path.is_symlink() and not _inside(path, root):
        problems.add(
            name,
            f"{name}: a link to {os.path.realpath(path)}, outside the folder; "
            "copy the file itself into the folder",
        )
        return None
    if not path.is_file():
        what = "not a file" if path.exists() else "missing"
        problems.add(name, f"{name}: {what} (the export contract requires it)")
        return None
    with open(path, "rb") as handle:
        starts_with_bom = handle.read(3) == BOM
    if starts_with_bom and not bom_ok:
        problems.add(
            name,
            f"{name}: file starts with a byte-order mark; ingest never writes one, so it was "
            "edited by hand",
        )
        return None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if not _header_ok(name, columns, schema.columns(name), problems):
                return None
            for row in reader:
                number = reader.line_num
                if None in row or None in row.values():
                    found = (
                        len(columns)
                        + len(row.get(None) or [])
                        - sum(v is None for v in row.values())
                    )
                    problems.add(
                        name,
                        f"{name} row {number}: {found} field(s) where the header has "
                        f"{len(columns)}; give the row one value per column (an empty value "
                        "is written as two commas)",
                    )
                    continue
                rows.append((number, row))
    except UnicodeDecodeError:
        problems.add(
            name,
            f"{name}: not UTF-8 text (near row {reader.line_num + 1}); re-export it as UTF-8 CSV",
        )
        return None
    except csv.Error as error:
        problems.add(
            name, f"{name} row {reader.line_num + 1}: not readable as CSV ({error}); re-export it"
        )
        return None
    return rows


def _header_ok(
    name: str, columns: Sequence[str], required: Sequence[str], problems: _Problems
) -> bool:
    if not columns:
        problems.add(name, f"{name}: empty file (no header line); write the header and rows")
        return False
    if len(columns) == 1 and ";" in columns[0]:
        problems.add(
            name, f"{name}: columns are separated by ';'; re-export it with ',' as separator"
        )
        return False
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        problems.add(name, f"{name}: column(s) {', '.join(repeated)} appear more than once")
        return False
    missing = [c for c in required if c not in columns]
    if missing:
        problems.add(
            name,
            f"{name}: missing column(s) {', '.join(missing)} (header: {', '.join(columns)})",
        )
        return False
    return True


Indexed = dict[str, tuple[int, dict[str, str]]]


def _index(
    rows: list[tuple[int, dict[str, str]]] | None, name: str, problems: _Problems
) -> Indexed | None:
    """Rows by exam ID (None stays None: the table could not be read)."""
    if rows is None:
        return None
    out: Indexed = {}
    for number, row in rows:
        exam = row["exam_id"]
        if not exam.strip():
            problems.add(name, f"{name} row {number}: empty exam_id")
        elif not IDENTIFIER.match(exam):
            problems.add(
                name,
                f"{name} row {number}: exam_id {exam!r} is not a plain identifier (letters, "
                "digits, '.', '_', '-', at most 64, no spaces)",
            )
        elif exam in out:
            problems.add(name, f"{name} row {number}: exam {exam} already on row {out[exam][0]}")
        else:
            out[exam] = (number, row)
    return out


def _check_values(
    name: str, number: int, row: dict[str, str], schema: ChallengeSchema, problems: _Problems
) -> None:
    """Values every table shares: IDs, integers, booleans, sex, centre."""
    where = f"{name} row {number}"
    if "patient_id" in row:
        patient = row["patient_id"]
        if not patient.strip():
            problems.add(name, f"{where}: empty patient_id")
        elif not IDENTIFIER.match(patient):
            problems.add(
                name,
                f"{where}: patient_id {patient!r} is not a plain identifier (letters, digits, "
                "'.', '_', '-', at most 64, no spaces)",
            )
    for column, (low, high) in (INTEGERS | schema.integers()).items():
        value = row.get(column)
        if not value:
            continue
        if not re.fullmatch(r"\d+", value.strip()) or not low <= int(value) <= high:
            problems.add(
                name, f"{where}: {column} {value!r} is not a whole number from {low} to {high}"
            )
    for declared in schema.fields:
        value = row.get(declared.name)
        if declared.type == "boolean" and value is not None and value.lower() not in _BOOLEAN:
            problems.add(name, f"{where}: {declared.name} {value!r} must be true or false")
        elif declared.type == "number" and value:
            try:
                float(value)
            except ValueError:
                problems.add(name, f"{where}: {declared.name} {value!r} is not a number")
    if "sex" in row and row["sex"] not in SEXES:
        problems.add(name, f"{where}: sex {row['sex']!r} is not one of {', '.join(SEXES)}")
    if "centre" in row and not row["centre"].strip():
        problems.add(name, f"{where}: empty centre")


def _check_tables(
    labels: Indexed | None,
    splits: Indexed | None,
    clinical: Indexed | None,
    schema: ChallengeSchema,
    problems: _Problems,
) -> None:
    """The rules between and within the three tables (export or staging alike). A table
    that could not be read (None) is left out of the checks between tables."""
    for exam, (number, row) in (labels or {}).items():
        if row["label"] not in schema.classes:
            problems.add(
                "labels.csv",
                f"labels.csv row {number}: label {row['label']!r} is not one of "
                f"{', '.join(schema.classes)}",
            )
        _check_values("labels.csv", number, row, schema, problems)
        if splits is not None and exam not in splits:
            problems.add(
                "splits.csv", f"splits.csv: no split for exam {exam} (labels.csv row {number})"
            )
        if clinical is not None and exam not in clinical:
            problems.add(
                "clinical.csv", f"clinical.csv: no row for exam {exam} (labels.csv row {number})"
            )
    for exam, (number, row) in (splits or {}).items():
        if row["split"] not in schema.splits:
            problems.add(
                "splits.csv",
                f"splits.csv row {number}: split {row['split']!r} is not one of "
                f"{', '.join(schema.splits)}",
            )
        if labels is not None and exam not in labels:
            problems.add("splits.csv", f"splits.csv row {number}: exam {exam} has no label")
    for exam, (number, row) in (clinical or {}).items():
        _check_values("clinical.csv", number, row, schema, problems)
        if labels is None:
            continue
        if exam not in labels:
            problems.add("clinical.csv", f"clinical.csv row {number}: exam {exam} has no label")
        elif "patient_id" in row and row["patient_id"] != labels[exam][1]["patient_id"]:
            problems.add(
                "clinical.csv",
                f"clinical.csv row {number}: patient_id {row['patient_id']!r} differs from "
                f"labels.csv row {labels[exam][0]} ({labels[exam][1]['patient_id']!r})",
            )

    by_patient: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for exam, (_, row) in (labels or {}).items():
        if splits is not None and exam in splits:
            by_patient[row["patient_id"]][splits[exam][1]["split"]].append(exam)
    for patient, placed in sorted(by_patient.items()):
        if len(placed) > 1:
            where = "; ".join(f"{s}: {', '.join(sorted(e))}" for s, e in sorted(placed.items()))
            problems.add(
                "splits.csv",
                f"splits.csv: patient {patient} is in {len(placed)} splits ({where}); "
                "splits must be at patient level",
            )


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, links resolved, stays under ``root`` (links resolved too)."""
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _exam_files(
    root: Path, folder: Path, problems: _Problems, where: str = "the export"
) -> list[Path]:
    """The regular files under one exam folder. Links are followed only while they stay
    inside the export; any other link, and any special file, is a problem named by path."""
    files: list[Path] = []
    seen = {os.path.realpath(folder)}
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as error:
            problems.add("exams/", f"{current.relative_to(root)}/: cannot be listed ({error})")
            continue
        for entry in entries:
            path = Path(entry.path)
            shown = path.relative_to(root).as_posix()
            if entry.is_symlink():
                target = os.path.realpath(path)
                if not os.path.exists(target):
                    problems.add(
                        "exams/",
                        f"{shown}: a link to {os.readlink(path)}, which does not exist; "
                        "replace it with the file itself",
                    )
                    continue
                if not _inside(path, root):
                    problems.add(
                        "exams/",
                        f"{shown}: a link to {target}, outside {where}; copy the file "
                        f"itself into {where} (the portal never follows links out of it)",
                    )
                    continue
            try:
                mode = path.stat().st_mode
            except OSError as error:
                problems.add("exams/", f"{shown}: cannot be read ({error.strerror})")
                continue
            if stat.S_ISDIR(mode):
                real = os.path.realpath(path)
                if real not in seen:
                    seen.add(real)
                    pending.append(path)
            elif stat.S_ISREG(mode):
                if not os.access(path, os.R_OK):
                    problems.add("exams/", f"{shown}: not readable (permissions); fix them")
                else:
                    files.append(path)
            else:
                problems.add(
                    "exams/", f"{shown}: {_kind(mode)}, not a file; remove it from the export"
                )
    return sorted(files)


def _exam_folders(root: Path, problems: _Problems) -> dict[str, list[Path]]:
    exams_dir = root / "exams"
    folders: dict[str, list[Path]] = {}
    if exams_dir.is_symlink() and not _inside(exams_dir, root):
        problems.add(
            "exams/",
            f"exams/: a link to {os.path.realpath(exams_dir)}, outside the export; "
            "move the exams into the export",
        )
        return folders
    if not exams_dir.is_dir():
        problems.add("exams/", "exams/: missing (one folder per exam holding its DICOM files)")
        return folders
    for entry in sorted(exams_dir.iterdir()):
        shown = entry.relative_to(root).as_posix()
        if entry.is_symlink() and (not entry.exists() or not _inside(entry, root)):
            target = os.path.realpath(entry)
            where = "which does not exist" if not entry.exists() else "outside the export"
            problems.add(
                "exams/",
                f"{shown}: a link to {target}, {where}; copy the exam folder itself "
                "into the export",
            )
        elif entry.is_dir():
            folders[entry.name] = _exam_files(root, entry, problems)
        elif not entry.name.startswith("."):
            problems.add(
                "exams/",
                f"{shown}: a file directly under exams/; put it in its exam's folder "
                "(exams/<exam_id>/) or remove it",
            )
    return folders


def read_export(root: Path, schema: ChallengeSchema) -> Export:
    """Read and validate an export against the challenge's schema (its card's classes,
    splits and fields); raise ``InputError`` listing all problems found."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "export folder not found.",
            path=root,
            hint="point --export at the challenge's export (for the demo, "
            "`portal synth <challenge>` writes a synthetic one).",
        )
    problems = _Problems()
    labels, splits, clinical = (
        _index(_read_table(root, name, problems, schema), name, problems)
        for name in ("labels.csv", "splits.csv", "clinical.csv")
    )
    folders = _exam_folders(root, problems)
    _check_tables(labels, splits, clinical, schema, problems)

    exams_readable = (root / "exams").is_dir() and "exams/" not in problems.per_table
    for exam, (number, _) in (labels or {}).items():
        if not exams_readable:
            break
        if exam not in folders:
            problems.add(
                "exams/",
                f"labels.csv row {number}: label for missing exam {exam} (no exams/{exam}/ folder)",
            )
        elif not folders[exam]:
            problems.add(
                "exams/", f"exams/{exam}/: no file in it; add its DICOM files or drop its label"
            )
    for exam in folders:
        if labels is not None and exam not in labels:
            problems.add("exams/", f"exams/{exam}/: exam with no label; add a row to labels.csv")

    problems.close()
    if problems:
        raise InputError(
            f"the export breaks the contract in {len(problems)} place(s):",
            path=root,
            problems=problems,
            hint="fix the export (see docs/synthetic-export.md for the contract) and re-run.",
        )
    return Export(
        root=root,
        labels={e: r for e, (_, r) in (labels or {}).items()},
        splits={e: r["split"] for e, (_, r) in (splits or {}).items()},
        clinical={e: r for e, (_, r) in (clinical or {}).items()},
        files=folders,
    )


def check_staging(staging: Path, schema: ChallengeSchema) -> None:
    """Re-check a staging folder's tables against the export contract before a release.

    ``portal ingest`` writes only valid tables, so a problem here means the
    staging was changed afterwards: a label outside the schema's classes, a short row,
    an exam without its images, a link out of the folder, an unreadable report.
    Every problem is listed in one ``InputError``; nothing is built. A folder
    without ``deid_report.json`` is left to the release's own check, which
    says it was not made by ingest.
    """
    staging = Path(staging)
    report = staging / "deid_report.json"
    if not staging.is_dir() or not report.exists():
        return
    problems = _Problems()
    try:
        json.loads(report.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        problems.add("deid_report.json", f"deid_report.json: not valid JSON ({error})")
    labels, splits, clinical = (
        _index(_read_table(staging, name, problems, schema, bom_ok=False), name, problems)
        for name in ("labels.csv", "splits.csv", "clinical.csv")
    )
    _check_tables(labels, splits, clinical, schema, problems)
    dicom = staging / "dicom"
    for exam, (number, _) in (labels or {}).items():
        folder = dicom / exam
        files = _exam_files(staging, folder, problems, "the staging") if folder.is_dir() else []
        if not files:
            problems.add(
                "dicom/",
                f"labels.csv row {number}: exam {exam} has no image (no dicom/{exam}/*.dcm)",
            )
        for path in files:
            if path.is_symlink():
                problems.add(
                    "dicom/",
                    f"{path.relative_to(staging).as_posix()}: a link; staging holds files only",
                )
                continue
            with open(path, "rb") as handle:
                head = handle.read(132)
            if head[128:132] != b"DICM":
                problems.add("dicom/", f"{path.relative_to(staging).as_posix()}: not a DICOM file")
    problems.close()
    if problems:
        raise InputError(
            f"the staging tables break the export contract in {len(problems)} place(s); "
            "nothing is released:",
            path=staging,
            problems=problems,
            hint="re-run `portal ingest` to rebuild the staging (it is written by ingest "
            "only); correct labels in the export, not in the staging.",
        )
