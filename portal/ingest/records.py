"""The export's tables and the per-file records of one ingest, on disk.

An ingest of a national year of exams (about 20,000) would hold, per exam, its rows of
the three tables, its files, its task and the record of each file in the command's
memory: some kilobytes an exam, a peak that grows with the export. :class:`WorkStore`
keeps them in one SQLite file of the work folder instead (``.ingest-work/ingest.sqlite``,
rebuilt by every run: the journals stay the record of what was done, for a resume), and
hands them back as streams, in the order the ingest always used: exams by ID, files by
index. Memory then holds a page cache and a batch of rows, whatever the export's size.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

CACHE_KB = 2048  # SQLite page cache
BATCH = 256  # rows fetched at a time


class WorkStore:
    """Exams (their table rows), files and per-file records of one ingest, in SQLite."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
            f"PRAGMA cache_size=-{CACHE_KB}; "
            "CREATE TABLE exam (exam_id TEXT PRIMARY KEY, patient TEXT, centre TEXT, "
            "split TEXT, labels TEXT, clinical TEXT) WITHOUT ROWID; "
            "CREATE TABLE file (exam_id TEXT, idx INTEGER, source TEXT, "
            "PRIMARY KEY (exam_id, idx)) WITHOUT ROWID; "
            "CREATE TABLE record (exam_id TEXT, idx INTEGER, status TEXT, output TEXT, "
            "sop TEXT, data TEXT, PRIMARY KEY (exam_id, idx)) WITHOUT ROWID; "
            "CREATE INDEX record_sop ON record (sop) WHERE status = 'ok'; "
            "CREATE INDEX record_output ON record (output) WHERE status = 'ok'; "
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID; "
            "BEGIN;"
        )

    def close(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()

    # -- the export ---------------------------------------------------------------------------
    def load_export(self, export) -> None:
        """Copy a validated export in, streamed from its own store
        (:class:`~portal.export.contract.StoredExport`): no table is ever whole in memory."""
        self._set("label_columns", export.label_columns)
        self._set("clinical_columns", export.clinical_columns)
        self._set("root", str(export.root))
        self._db.executemany(
            "INSERT INTO exam VALUES (?, ?, ?, ?, ?, ?)",
            (
                (exam, patient, centre, split, json.dumps(labels), json.dumps(clinical))
                for exam, patient, centre, split, labels, clinical in export.exams()
            ),
        )
        self._db.executemany("INSERT INTO file VALUES (?, ?, ?)", export.files())

    def _set(self, name: str, value) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def _get(self, name: str):
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def centres(self) -> set[str]:
        return {c for (c,) in self._db.execute("SELECT DISTINCT centre FROM exam")}

    def exam_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM exam").fetchone()[0]

    def file_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM file").fetchone()[0]

    def source_of(self, exam: str, index: int) -> str | None:
        row = self._db.execute(
            "SELECT source FROM file WHERE exam_id = ? AND idx = ?", (exam, index)
        ).fetchone()
        return row[0] if row else None

    def _pages(self, query: str, where: str = "", params: tuple = ()) -> Iterator[tuple]:
        """Rows of ``query`` (whose first two columns are exam_id, idx) in (exam, index)
        order, ``BATCH`` at a time: no cursor stays open while the caller writes."""
        last = ("", -1)
        glue = " AND " if where else ""
        while True:
            rows = self._db.execute(
                f"{query} WHERE (f.exam_id, f.idx) > (?, ?){glue}{where} "
                f"ORDER BY f.exam_id, f.idx LIMIT {BATCH}",
                (*last, *params),
            ).fetchall()
            yield from rows
            if len(rows) < BATCH:
                return
            last = (rows[-1][0], rows[-1][1])

    def files(self, *, todo: bool = False) -> Iterator[tuple[str, int, str, str, str]]:
        """(exam_id, index, source, patient, centre) of every file, or of those without a
        record yet (``todo``)."""
        return self._pages(
            "SELECT f.exam_id, f.idx, f.source, e.patient, e.centre "
            "FROM file f JOIN exam e ON e.exam_id = f.exam_id",
            "NOT EXISTS (SELECT 1 FROM record r WHERE r.exam_id = f.exam_id AND r.idx = f.idx)"
            if todo
            else "",
        )

    # -- the records --------------------------------------------------------------------------
    def put(self, record: dict) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?)",
            (
                record["exam_id"],
                record["index"],
                record["status"],
                record.get("output"),
                record.get("sop_instance_uid_hash"),
                json.dumps(record, sort_keys=True),
            ),
        )

    def forget(self, exam: str, index: int) -> None:
        self._db.execute("DELETE FROM record WHERE exam_id = ? AND idx = ?", (exam, index))

    def records(self, status: str | None = None) -> Iterator[tuple[str, int, str, dict]]:
        """(exam_id, index, source, record) in task order: every record, or one status's."""
        for exam, index, source, data in self._pages(
            "SELECT f.exam_id, f.idx, f.source, r.data FROM file f "
            "JOIN record r ON r.exam_id = f.exam_id AND r.idx = f.idx",
            "r.status = ?" if status else "",
            (status,) if status else (),
        ):
            yield exam, index, source, json.loads(data)

    def is_staged(self, output: str) -> bool:
        """Whether ``output`` (``dicom/<exam>/<n>.dcm``) is the output of a staged file."""
        row = self._db.execute(
            "SELECT 1 FROM record WHERE output = ? AND status = 'ok'", (output,)
        ).fetchone()
        return row is not None

    def status_counts(self) -> dict[str, int]:
        return dict(
            self._db.execute(
                "SELECT r.status, COUNT(*) FROM record r JOIN file f "
                "ON r.exam_id = f.exam_id AND r.idx = f.idx GROUP BY r.status"
            ).fetchall()
        )

    def duplicate_sops(self) -> Iterator[str]:
        """SOP Instance UID hashes shared by several staged files."""
        rows = self._db.execute(
            "SELECT sop FROM record WHERE status = 'ok' GROUP BY sop HAVING COUNT(*) > 1"
        ).fetchall()
        return (sop for (sop,) in rows)

    def with_sop(self, sop: str) -> list[dict]:
        rows = self._db.execute(
            "SELECT data FROM record WHERE status = 'ok' AND sop = ? ORDER BY exam_id, idx",
            (sop,),
        ).fetchall()
        return [json.loads(data) for (data,) in rows]

    def kept_exams(self) -> Iterator[str]:
        """Exams with at least one staged file, by ID."""
        rows = self._db.execute(
            "SELECT DISTINCT exam_id FROM record WHERE status = 'ok' ORDER BY exam_id"
        ).fetchall()
        return (exam for (exam,) in rows)

    def kept_count(self) -> int:
        return self._db.execute(
            "SELECT COUNT(DISTINCT exam_id) FROM record WHERE status = 'ok'"
        ).fetchone()[0]

    def excluded_exams(self) -> list[str]:
        """Exams of the export without a staged file, by ID."""
        return [
            exam
            for (exam,) in self._db.execute(
                "SELECT exam_id FROM exam e WHERE NOT EXISTS (SELECT 1 FROM record r "
                "WHERE r.exam_id = e.exam_id AND r.status = 'ok') ORDER BY exam_id"
            )
        ]

    # -- the staged tables --------------------------------------------------------------------
    def label_columns(self) -> list[str]:
        return self._get("label_columns") or []

    def clinical_columns(self) -> list[str]:
        return self._get("clinical_columns") or []

    def kept_rows(self) -> Iterator[tuple[str, str, list[str], list[str]]]:
        """(exam_id, split, label row values, clinical row values) of each kept exam."""
        last = ""
        while True:
            rows = self._db.execute(
                "SELECT e.exam_id, e.split, e.labels, e.clinical FROM exam e "
                "WHERE e.exam_id > ? AND EXISTS (SELECT 1 FROM record r "
                "WHERE r.exam_id = e.exam_id AND r.status = 'ok') "
                f"ORDER BY e.exam_id LIMIT {BATCH}",
                (last,),
            ).fetchall()
            for exam, split, labels, clinical in rows:
                yield exam, split, json.loads(labels), json.loads(clinical)
            if len(rows) < BATCH:
                return
            last = rows[-1][0]
