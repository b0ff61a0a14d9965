"""Real-world DICOM files that ship inside installed packages, laid out as an export."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import deid_data
import pydicom


def package_dicom_files() -> list[Path]:
    """Every file in pydicom's and deid-data's test data that looks like DICOM."""
    roots = [
        Path(pydicom.__file__).parent / "data" / "test_files",
        Path(deid_data.__file__).parent / "data",
    ]
    files = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.suffix in (
                ".txt",
                ".json",
                ".py",
                ".gz",
                ".icc",
                ".dump",
            ):
                continue
            with open(path, "rb") as handle:
                head = handle.read(132)
            if head[128:132] == b"DICM" or path.suffix.lower() == ".dcm":
                files.append(path)
    return files


def build_export(files: list[Path], out: Path) -> dict[str, Path]:
    """One exam per file; returns exam_id -> original file."""
    exams = {}
    rows = []
    for i, source in enumerate(files, start=1):
        exam = f"RW-E{i:04d}"
        folder = out / "exams" / exam
        folder.mkdir(parents=True)
        shutil.copy(source, folder / source.name)
        exams[exam] = source
        rows.append(exam)
    with open(out / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        # the columns the DaT-Park card declares beside the label (task.fields)
        header = ["exam_id", "patient_id", "label", "reader_confidence", "reader_agreement"]
        writer.writerow([*header, "gray_zone"])
        writer.writerows([e, f"RW-P{i:04d}", "normal", 5, 3, "false"] for i, e in enumerate(rows))
    with open(out / "splits.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["exam_id", "split"])
        writer.writerows([e, "train"] for e in rows)
    with open(out / "clinical.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["exam_id", "age", "sex", "centre"])
        writer.writerows([e, 60, "F", "Test Centre"] for e in rows)
    return exams
