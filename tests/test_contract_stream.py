"""The export contract checked a row and an exam folder at a time (``check_export``).

The tables and file lists of a national year of exams wait in a SQLite file while they
are checked: memory does not grow with the export, and the problems found are the same,
in the same order, as when the tables were held whole.
"""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pytest

from portal.errors import InputError
from portal.export.contract import check_export, read_export
from portal.release.cards import load_card

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = load_card(ROOT / "data_cards" / "datpark.md").meta.schema
LABELS = ["exam_id", "patient_id", "label", "reader_confidence", "reader_agreement", "gray_zone"]
CLINICAL = ["exam_id", "patient_id", "age", "sex", "weight_kg", "centre"]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def make_export(root: Path, exams: int, *, patients=None, splits=None) -> Path:
    """``exams`` exams of one small (not DICOM: the contract does not parse) file each."""
    root.mkdir(parents=True)
    ids = [f"E{n:06d}" for n in range(1, exams + 1)]
    patients = patients or {e: f"P{e[1:]}" for e in ids}
    splits = splits or {
        e: ("train", "public_test", "private_test")[i % 3] for i, e in enumerate(ids)
    }
    _write(
        root / "labels.csv",
        LABELS,
        [
            [e, patients[e], ("normal", "pathological")[i % 2], "3", "2", "false"]
            for i, e in enumerate(ids)
        ],
    )
    _write(root / "splits.csv", ["exam_id", "split"], [[e, splits[e]] for e in ids])
    _write(
        root / "clinical.csv",
        CLINICAL,
        [[e, patients[e], "70", "F", "60", f"Centre {i % 4}"] for i, e in enumerate(ids)],
    )
    for e in ids:
        (root / "exams" / e).mkdir(parents=True)
        (root / "exams" / e / "1.dcm").write_bytes(b"\0" * 128 + b"DICM")
    return root


def test_the_stored_export_streams_what_read_export_holds(tmp_path):
    export = make_export(tmp_path / "export", 30)
    held = read_export(export, SCHEMA)
    stored = check_export(export, SCHEMA, tmp_path / "check.sqlite")
    try:
        exams = list(stored.exams())
        files = list(stored.files())
    finally:
        stored.close()
    assert [e[0] for e in exams] == held.exam_ids
    for exam, patient, centre, split, labels, clinical in exams:
        assert patient == held.patient_of(exam) and split == held.splits[exam]
        assert labels == list(held.labels[exam].values())
        assert clinical == list(held.clinical[exam].values()) and centre == clinical[-1]
    assert files == [(e, 0, str((export / "exams" / e / "1.dcm").resolve())) for e in held.exam_ids]
    assert not (tmp_path / "check.sqlite").exists(), "the check's file goes with it"


def test_problems_between_tables_are_found_in_file_order(tmp_path):
    export = make_export(
        tmp_path / "export",
        6,
        patients={f"E{n:06d}": "PX" if n in (2, 5) else f"P{n}" for n in range(1, 7)},
        splits={f"E{n:06d}": "train" if n != 5 else "private_test" for n in range(1, 7)},
    )
    with open(export / "labels.csv", "a", encoding="utf-8") as handle:
        handle.write("E000003,P3,normal,3,2,false\nE000009,P9,unknown,3,2,false\n")
    with open(export / "splits.csv", "a", encoding="utf-8") as handle:
        handle.write("E000007,test\n")
    (export / "exams" / "E000004" / "1.dcm").unlink()
    (export / "exams" / "E000010").mkdir()
    with pytest.raises(InputError) as refused:
        check_export(export, SCHEMA, tmp_path / "check.sqlite")
    assert refused.value.problems == [
        "labels.csv row 8: exam E000003 already on row 4",
        "labels.csv row 9: label 'unknown' is not one of normal, pathological",
        "splits.csv: no split for exam E000009 (labels.csv row 9)",
        "clinical.csv: no row for exam E000009 (labels.csv row 9)",
        "splits.csv row 8: split 'test' is not one of train, public_test, private_test",
        "splits.csv row 8: exam E000007 has no label",
        "splits.csv: patient PX is in 2 splits (private_test: E000005; train: E000002); "
        "splits must be at patient level",
        "exams/E000004/: no file in it; add its DICOM files or drop its label",
        "labels.csv row 9: label for missing exam E000009 (no exams/E000009/ folder)",
        "exams/E000010/: exam with no label; add a row to labels.csv",
    ]
    assert not (tmp_path / "check.sqlite").exists()


def test_checking_a_larger_export_holds_no_more_rows_in_memory(tmp_path):
    """Python's own allocations while 600 and then 6,000 exams are checked: the peak
    stays that of a batch of rows, not of the tables."""
    peaks = {}
    for exams in (600, 6000):
        export = make_export(tmp_path / f"export-{exams}", exams)
        tracemalloc.start()
        stored = check_export(export, SCHEMA, tmp_path / f"check-{exams}.sqlite")
        count = sum(1 for _ in stored.exams()) + sum(1 for _ in stored.files())
        peaks[exams] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        stored.close()
        assert count == 2 * exams
    # held whole, 6,000 exams' rows are several megabytes (about 1 KB an exam)
    assert peaks[6000] < peaks[600] + 1_000_000, peaks
