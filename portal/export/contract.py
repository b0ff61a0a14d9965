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
import sqlite3
import stat
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import suppress
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
    db: _Tables,
    root: Path,
    name: str,
    problems: _Problems,
    schema: ChallengeSchema,
    *,
    bom_ok: bool = True,
) -> bool:
    """Put the complete rows of ``root/name`` with their line numbers into ``db``, one at a
    time; False when the file as a whole is unusable (then no other table is checked
    against it: no follow-on errors)."""
    path = root / name
    if path.is_symlink() and not _inside(path, root):
        problems.add(
            name,
            f"{name}: a link to {os.path.realpath(path)}, outside the folder; "
            "copy the file itself into the folder",
        )
        return False
    if not path.is_file():
        what = "not a file" if path.exists() else "missing"
        problems.add(name, f"{name}: {what} (the export contract requires it)")
        return False
    with open(path, "rb") as handle:
        starts_with_bom = handle.read(3) == BOM
    if starts_with_bom and not bom_ok:
        problems.add(
            name,
            f"{name}: file starts with a byte-order mark; ingest never writes one, so it was "
            "edited by hand",
        )
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            if not _header_ok(name, columns, schema.columns(name), problems):
                return False
            db.header(name, columns)
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
                db.add_row(name, number, row)
    except UnicodeDecodeError:
        problems.add(
            name,
            f"{name}: not UTF-8 text (near row {reader.line_num + 1}); re-export it as UTF-8 CSV",
        )
        db.drop(name)
        return False
    except csv.Error as error:
        problems.add(
            name, f"{name} row {reader.line_num + 1}: not readable as CSV ({error}); re-export it"
        )
        db.drop(name)
        return False
    db.flush()
    return True


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


def _index(db: _Tables, readable: bool, name: str, problems: _Problems) -> bool:
    """Index the rows of ``name`` by exam ID, first row of each ID only; False stays False
    (the table could not be read)."""
    if not readable:
        return False
    for number, row in db.rows(name):
        exam = row["exam_id"]
        if not exam.strip():
            problems.add(name, f"{name} row {number}: empty exam_id")
        elif not IDENTIFIER.match(exam):
            problems.add(
                name,
                f"{name} row {number}: exam_id {exam!r} is not a plain identifier (letters, "
                "digits, '.', '_', '-', at most 64, no spaces)",
            )
        else:
            first = db.index(name, exam, number)
            if first is not None:
                problems.add(name, f"{name} row {number}: exam {exam} already on row {first}")
    db.flush()
    return True


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
    db: _Tables,
    readable: dict[str, bool],
    schema: ChallengeSchema,
    problems: _Problems,
) -> None:
    """The rules between and within the three tables (export or staging alike). A table
    that could not be read is left out of the checks between tables. Rows come from
    ``db`` in file order, one at a time: memory does not grow with the tables."""
    labels, splits, clinical = (readable[n] for n in ("labels.csv", "splits.csv", "clinical.csv"))
    if labels:
        for exam, number, row, in_splits, in_clinical in db.indexed(
            "labels.csv", "splits.csv", "clinical.csv"
        ):
            if row["label"] not in schema.classes:
                problems.add(
                    "labels.csv",
                    f"labels.csv row {number}: label {row['label']!r} is not one of "
                    f"{', '.join(schema.classes)}",
                )
            _check_values("labels.csv", number, row, schema, problems)
            if splits and in_splits is None:
                problems.add(
                    "splits.csv", f"splits.csv: no split for exam {exam} (labels.csv row {number})"
                )
            if clinical and in_clinical is None:
                problems.add(
                    "clinical.csv",
                    f"clinical.csv: no row for exam {exam} (labels.csv row {number})",
                )
    if splits:
        for exam, number, row, in_labels in db.indexed("splits.csv", "labels.csv"):
            if row["split"] not in schema.splits:
                problems.add(
                    "splits.csv",
                    f"splits.csv row {number}: split {row['split']!r} is not one of "
                    f"{', '.join(schema.splits)}",
                )
            if labels and in_labels is None:
                problems.add("splits.csv", f"splits.csv row {number}: exam {exam} has no label")
    if clinical:
        for exam, number, row, in_labels in db.indexed("clinical.csv", "labels.csv"):
            _check_values("clinical.csv", number, row, schema, problems)
            if not labels:
                continue
            if in_labels is None:
                problems.add("clinical.csv", f"clinical.csv row {number}: exam {exam} has no label")
                continue
            label_patient = db.patient("labels.csv", in_labels)
            if "patient_id" in row and row["patient_id"] != label_patient:
                problems.add(
                    "clinical.csv",
                    f"clinical.csv row {number}: patient_id {row['patient_id']!r} differs from "
                    f"labels.csv row {in_labels} ({label_patient!r})",
                )
    if labels and splits:
        for patient, placed in db.patients_in_several_splits():
            where = "; ".join(f"{s}: {', '.join(e)}" for s, e in placed)
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


def _exam_folders(root: Path, problems: _Problems, db: _Tables) -> bool:
    """Put each exam folder's files into ``db``; whether ``exams/`` could be listed."""
    exams_dir = root / "exams"
    if exams_dir.is_symlink() and not _inside(exams_dir, root):
        problems.add(
            "exams/",
            f"exams/: a link to {os.path.realpath(exams_dir)}, outside the export; "
            "move the exams into the export",
        )
        return False
    if not exams_dir.is_dir():
        problems.add("exams/", "exams/: missing (one folder per exam holding its DICOM files)")
        return False
    for name in sorted(os.listdir(exams_dir)):
        entry = exams_dir / name
        shown = f"exams/{name}"
        if entry.is_symlink() and (not entry.exists() or not _inside(entry, root)):
            target = os.path.realpath(entry)
            where = "which does not exist" if not entry.exists() else "outside the export"
            problems.add(
                "exams/",
                f"{shown}: a link to {target}, {where}; copy the exam folder itself "
                "into the export",
            )
        elif entry.is_dir():
            db.folder(name, _exam_files(root, entry, problems))
        elif not name.startswith("."):
            problems.add(
                "exams/",
                f"{shown}: a file directly under exams/; put it in its exam's folder "
                "(exams/<exam_id>/) or remove it",
            )
    db.flush()
    return True


def check_export(root: Path, schema: ChallengeSchema, db_path: Path) -> StoredExport:
    """Read and validate an export against the challenge's schema (its card's classes,
    splits and fields), one row and one exam folder at a time, into the SQLite file
    ``db_path``; raise ``InputError`` listing all problems found. The tables and the file
    lists of a national year of exams wait on disk, not in memory (``StoredExport``)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "export folder not found.",
            path=root,
            hint="point --export at the challenge's export (for the demo, "
            "`portal synth <challenge>` writes a synthetic one).",
        )
    problems = _Problems()
    db = _Tables(db_path)
    try:
        readable = {
            name: _index(db, _read_table(db, root, name, problems, schema), name, problems)
            for name in ("labels.csv", "splits.csv", "clinical.csv")
        }
        listed = _exam_folders(root, problems, db)
        _check_tables(db, readable, schema, problems)

        exams_readable = listed and "exams/" not in problems.per_table
        if exams_readable and readable["labels.csv"]:
            for exam, number, files in db.labelled_folders():
                if files is None:
                    problems.add(
                        "exams/",
                        f"labels.csv row {number}: label for missing exam {exam} "
                        f"(no exams/{exam}/ folder)",
                    )
                elif not files:
                    problems.add(
                        "exams/",
                        f"exams/{exam}/: no file in it; add its DICOM files or drop its label",
                    )
        if readable["labels.csv"]:
            for exam in db.unlabelled_folders():
                problems.add(
                    "exams/", f"exams/{exam}/: exam with no label; add a row to labels.csv"
                )
        problems.close()
    except BaseException:
        db.close(remove=True)
        raise
    if problems:
        db.close(remove=True)
        raise InputError(
            f"the export breaks the contract in {len(problems)} place(s):",
            path=root,
            problems=problems,
            hint="fix the export (see docs/synthetic-export.md for the contract) and re-run.",
        )
    return StoredExport(root, db)


def read_export(root: Path, schema: ChallengeSchema) -> Export:
    """Read and validate an export (``check_export``), and hand it back in memory: for a
    library caller and small exports (``portal ingest`` streams the stored one)."""
    with tempfile.TemporaryDirectory(prefix="portal-export-") as folder:
        stored = check_export(root, schema, Path(folder) / "export.sqlite")
        try:
            return stored.to_export()
        finally:
            stored.close()


def check_staging(staging: Path, schema: ChallengeSchema) -> None:
    """Re-check a staging folder's tables against the export contract before a release.

    ``portal ingest`` writes only valid tables, so a problem here means the
    staging was changed afterwards: a label outside the schema's classes, a short row,
    an exam without its images, a link out of the folder, an unreadable report.
    Every problem is listed in one ``InputError``; nothing is built. A folder
    without ``deid_report.json`` is left to the release's own check, which
    says it was not made by ingest. The rows wait in a temporary SQLite file, as
    ``check_export``'s do.
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
    with tempfile.TemporaryDirectory(prefix="portal-staging-check-") as folder:
        db = _Tables(Path(folder) / "staging.sqlite")
        try:
            readable = {
                name: _index(
                    db,
                    _read_table(db, staging, name, problems, schema, bom_ok=False),
                    name,
                    problems,
                )
                for name in ("labels.csv", "splits.csv", "clinical.csv")
            }
            _check_tables(db, readable, schema, problems)
            dicom = staging / "dicom"
            labelled = db.indexed("labels.csv") if readable["labels.csv"] else iter(())
            for exam, number, _row in labelled:
                _check_staged_exam(staging, dicom / exam, exam, number, problems)
        finally:
            db.close(remove=True)
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


def _check_staged_exam(
    staging: Path, folder: Path, exam: str, number: int, problems: _Problems
) -> None:
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


# -- the rows, on disk --------------------------------------------------------------------------
ROWS_AT_ONCE = 512  # rows written or fetched per batch


class _Tables:
    """The export's rows, indexes and file lists in one SQLite file, while they are checked.

    ``row``: every complete row of a table with its line number, as read; ``idx``: the
    first row of each exam ID; ``folder``/``file``: each exam folder and its files. Rows
    are written and read back in batches; no table is ever held whole in memory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-2048; "
            "CREATE TABLE header (tbl TEXT PRIMARY KEY, columns TEXT) WITHOUT ROWID; "
            "CREATE TABLE row (tbl TEXT, line INTEGER, exam_id TEXT, data TEXT, "
            "PRIMARY KEY (tbl, line)) WITHOUT ROWID; "
            "CREATE TABLE idx (tbl TEXT, exam_id TEXT, line INTEGER, "
            "PRIMARY KEY (tbl, exam_id)) WITHOUT ROWID; "
            "CREATE INDEX idx_line ON idx (tbl, line); "
            "CREATE TABLE folder (exam_id TEXT PRIMARY KEY, seq INTEGER, files INTEGER) "
            "WITHOUT ROWID; "
            "CREATE TABLE file (exam_id TEXT, n INTEGER, path TEXT, PRIMARY KEY (exam_id, n)) "
            "WITHOUT ROWID; "
            "BEGIN;"
        )
        self._columns: dict[str, list[str]] = {}
        self._pending: list[tuple] = []
        self._pending_sql = ""
        self._folders = 0

    def close(self, *, remove: bool = False) -> None:
        with suppress(sqlite3.Error):
            self._db.execute("COMMIT")
        self._db.close()
        if remove:
            self.path.unlink(missing_ok=True)

    # -- writing, in batches
    def _queue(self, sql: str, values: tuple) -> None:
        if sql != self._pending_sql:
            self.flush()
            self._pending_sql = sql
        self._pending.append(values)
        if len(self._pending) >= ROWS_AT_ONCE:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._db.executemany(self._pending_sql, self._pending)
            self._pending = []

    def header(self, table: str, columns: Sequence[str]) -> None:
        self._columns[table] = list(columns)
        self._db.execute(
            "INSERT OR REPLACE INTO header VALUES (?, ?)", (table, json.dumps(list(columns)))
        )

    def columns(self, table: str) -> list[str]:
        return self._columns.get(table, [])

    def add_row(self, table: str, line: int, row: dict[str, str]) -> None:
        values = [row[c] for c in self._columns[table]]
        self._queue(
            "INSERT INTO row VALUES (?, ?, ?, ?)",
            (table, line, row["exam_id"], json.dumps(values)),
        )

    def drop(self, table: str) -> None:
        self._pending = []
        self._db.execute("DELETE FROM row WHERE tbl = ?", (table,))

    def index(self, table: str, exam: str, line: int) -> int | None:
        """Index ``exam`` at ``line``; the line already holding it, if any."""
        done = self._db.execute("INSERT OR IGNORE INTO idx VALUES (?, ?, ?)", (table, exam, line))
        if done.rowcount:
            return None
        return self._db.execute(
            "SELECT line FROM idx WHERE tbl = ? AND exam_id = ?", (table, exam)
        ).fetchone()[0]

    def folder(self, exam: str, files: list[Path]) -> None:
        self._folders += 1
        self.flush()
        self._db.execute("INSERT INTO folder VALUES (?, ?, ?)", (exam, self._folders, len(files)))
        self._db.executemany(
            "INSERT INTO file VALUES (?, ?, ?)",
            ((exam, n, str(path)) for n, path in enumerate(files)),
        )

    # -- reading, in batches
    def _batches(self, sql: str, params: tuple, key: int) -> Iterator[tuple]:
        """Rows of ``sql`` (which takes ``params`` then the last key seen, and orders by the
        column at ``key``), ``ROWS_AT_ONCE`` at a time: no cursor stays open meanwhile."""
        last: object = -1
        while True:
            rows = self._db.execute(sql, (*params, last)).fetchall()
            yield from rows
            if len(rows) < ROWS_AT_ONCE:
                return
            last = rows[-1][key]

    def rows(self, table: str) -> Iterator[tuple[int, dict[str, str]]]:
        """(line, row) of every complete row of ``table``, in file order."""
        columns = self._columns[table]
        for line, data in self._batches(
            f"SELECT line, data FROM row WHERE tbl = ? AND line > ? ORDER BY line "
            f"LIMIT {ROWS_AT_ONCE}",
            (table,),
            0,
        ):
            yield line, dict(zip(columns, json.loads(data), strict=True))

    def indexed(self, table: str, *others: str) -> Iterator[tuple]:
        """(exam, line, row, line in each of ``others`` or None) of the first row of each
        exam of ``table``, in file order."""
        columns = self._columns[table]
        joins = "".join(
            f" LEFT JOIN idx o{n} ON o{n}.tbl = ? AND o{n}.exam_id = i.exam_id"
            for n in range(len(others))
        )
        picked = "".join(f", o{n}.line" for n in range(len(others)))
        sql = (
            f"SELECT i.exam_id, i.line, r.data{picked} FROM idx i "
            f"JOIN row r ON r.tbl = i.tbl AND r.line = i.line{joins} "
            f"WHERE i.tbl = ? AND i.line > ? ORDER BY i.line LIMIT {ROWS_AT_ONCE}"
        )
        for exam, line, data, *lines in self._batches(sql, (*others, table), 1):
            yield (exam, line, dict(zip(columns, json.loads(data), strict=True)), *lines)

    def patient(self, table: str, line: int) -> str:
        (data,) = self._db.execute(
            "SELECT data FROM row WHERE tbl = ? AND line = ?", (table, line)
        ).fetchone()
        return json.loads(data)[self._columns[table].index("patient_id")]

    def patients_in_several_splits(self) -> Iterator[tuple[str, list[tuple[str, list[str]]]]]:
        """(patient, [(split, exams)]) of each patient whose labelled exams lie in more than
        one split, by patient, split and exam."""
        patient = self._columns["labels.csv"].index("patient_id")
        split = self._columns["splits.csv"].index("split")
        self._db.execute(
            "CREATE TEMP TABLE placed AS SELECT json_extract(lr.data, ?) AS patient, "
            "json_extract(sr.data, ?) AS split, i.exam_id AS exam FROM idx i "
            "JOIN row lr ON lr.tbl = i.tbl AND lr.line = i.line "
            "JOIN idx s ON s.tbl = 'splits.csv' AND s.exam_id = i.exam_id "
            "JOIN row sr ON sr.tbl = s.tbl AND sr.line = s.line WHERE i.tbl = 'labels.csv'",
            (f"$[{patient}]", f"$[{split}]"),
        )
        mixed = self._db.execute(
            "SELECT patient FROM placed GROUP BY patient HAVING COUNT(DISTINCT split) > 1 "
            "ORDER BY patient"
        ).fetchall()
        for (who,) in mixed:
            placed: dict[str, list[str]] = defaultdict(list)
            for where, exam in self._db.execute(
                "SELECT split, exam FROM placed WHERE patient = ? ORDER BY split, exam", (who,)
            ).fetchall():
                placed[where].append(exam)
            yield who, list(placed.items())
        self._db.execute("DROP TABLE placed")

    def labelled_folders(self) -> Iterator[tuple[str, int, int | None]]:
        """(exam, labels.csv line, files in its folder or None) in labels.csv order."""
        return self._batches(
            "SELECT i.exam_id, i.line, f.files FROM idx i LEFT JOIN folder f "
            "ON f.exam_id = i.exam_id WHERE i.tbl = 'labels.csv' AND i.line > ? "
            f"ORDER BY i.line LIMIT {ROWS_AT_ONCE}",
            (),
            1,
        )

    def unlabelled_folders(self) -> Iterator[str]:
        """Exam folders without a label, in folder order."""
        rows = self._batches(
            "SELECT f.seq, f.exam_id FROM folder f WHERE NOT EXISTS (SELECT 1 FROM idx i "
            "WHERE i.tbl = 'labels.csv' AND i.exam_id = f.exam_id) AND f.seq > ? "
            f"ORDER BY f.seq LIMIT {ROWS_AT_ONCE}",
            (),
            0,
        )
        return (exam for _seq, exam in rows)

    # -- a validated export, streamed
    def exams(self) -> Iterator[tuple[str, list[str], str, list[str]]]:
        """(exam, labels row values, split, clinical row values) of every labelled exam,
        by exam ID."""
        split = self._columns["splits.csv"].index("split")
        sql = (
            "SELECT i.exam_id, lr.data, sr.data, cr.data FROM idx i "
            "JOIN row lr ON lr.tbl = i.tbl AND lr.line = i.line "
            "JOIN idx s ON s.tbl = 'splits.csv' AND s.exam_id = i.exam_id "
            "JOIN row sr ON sr.tbl = s.tbl AND sr.line = s.line "
            "JOIN idx c ON c.tbl = 'clinical.csv' AND c.exam_id = i.exam_id "
            "JOIN row cr ON cr.tbl = c.tbl AND cr.line = c.line "
            f"WHERE i.tbl = 'labels.csv' AND i.exam_id > ? ORDER BY i.exam_id "
            f"LIMIT {ROWS_AT_ONCE}"
        )
        last = ""
        while True:
            rows = self._db.execute(sql, (last,)).fetchall()
            for exam, labels, splits, clinical in rows:
                yield exam, json.loads(labels), json.loads(splits)[split], json.loads(clinical)
            if len(rows) < ROWS_AT_ONCE:
                return
            last = rows[-1][0]

    def files(self) -> Iterator[tuple[str, int, str]]:
        """(exam, index, path) of every file of a labelled exam, by exam and index."""
        sql = (
            "SELECT f.exam_id, f.n, f.path FROM file f WHERE EXISTS (SELECT 1 FROM idx i "
            "WHERE i.tbl = 'labels.csv' AND i.exam_id = f.exam_id) AND (f.exam_id, f.n) > (?, ?) "
            f"ORDER BY f.exam_id, f.n LIMIT {ROWS_AT_ONCE}"
        )
        last: tuple[str, int] = ("", -1)
        while True:
            rows = self._db.execute(sql, last).fetchall()
            yield from rows
            if len(rows) < ROWS_AT_ONCE:
                return
            last = (rows[-1][0], rows[-1][1])


class StoredExport:
    """A validated export whose rows and file lists wait in a SQLite file, handed back as
    streams: exams by ID, files by exam and index (``check_export``)."""

    def __init__(self, root: Path, db: _Tables) -> None:
        self.root = root
        self._db = db
        self.label_columns = db.columns("labels.csv")
        self.clinical_columns = db.columns("clinical.csv")
        self._centre = self.clinical_columns.index("centre")
        self._patient = self.label_columns.index("patient_id")

    def exams(self) -> Iterator[tuple[str, str, str, str, list[str], list[str]]]:
        """(exam, patient, centre, split, labels row values, clinical row values), by exam."""
        for exam, labels, split, clinical in self._db.exams():
            yield exam, labels[self._patient], clinical[self._centre], split, labels, clinical

    def files(self) -> Iterator[tuple[str, int, str]]:
        """(exam, index, path with links resolved) of every file, by exam then index."""
        for exam, index, path in self._db.files():
            yield exam, index, str(Path(path).resolve())

    def to_export(self) -> Export:
        """The whole export in memory (``read_export``)."""
        export = Export(root=self.root)
        for exam, _patient, _centre, split, labels, clinical in self.exams():
            export.labels[exam] = dict(zip(self.label_columns, labels, strict=True))
            export.splits[exam] = split
            export.clinical[exam] = dict(zip(self.clinical_columns, clinical, strict=True))
            export.files[exam] = []
        for exam, _index, path in self._db.files():
            export.files[exam].append(Path(path))
        return export

    def close(self) -> None:
        self._db.close(remove=True)
