"""The export contract: what a challenge platform hands over, checked in full before any work.

``read_export`` reads ``labels.csv``, ``splits.csv``, ``clinical.csv`` and the
``exams/`` folders, and collects *every* problem (file, row, value, fix)
before raising one ``InputError``, so an organiser fixes the export in one pass.
A patient in two splits is an error, never a warning.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from portal.errors import InputError

LABELS = ("normal", "pathological")
SPLITS = ("train", "public_test", "private_test")
REQUIRED = {
    "labels.csv": ("exam_id", "patient_id", "label", "gray_zone"),
    "splits.csv": ("exam_id", "split"),
    "clinical.csv": ("exam_id", "age", "sex", "centre"),
}


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


def _read_table(root: Path, name: str, problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    path = root / name
    if not path.is_file():
        problems.append(f"{name}: missing (the export contract requires it)")
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in REQUIRED[name] if c not in columns]
            if missing:
                problems.append(f"{name}: missing column(s) {', '.join(missing)}")
                return []
            return [(number, row) for number, row in enumerate(reader, start=2)]
    except UnicodeDecodeError:
        problems.append(f"{name}: not UTF-8 text; re-export it as UTF-8 CSV")
        return []


def _index(
    rows: list[tuple[int, dict[str, str]]], name: str, problems: list[str]
) -> dict[str, tuple[int, dict[str, str]]]:
    out: dict[str, tuple[int, dict[str, str]]] = {}
    for number, row in rows:
        exam = (row.get("exam_id") or "").strip()
        if not exam:
            problems.append(f"{name} row {number}: empty exam_id")
        elif exam in out:
            problems.append(f"{name} row {number}: exam {exam} already on row {out[exam][0]}")
        else:
            out[exam] = (number, row)
    return out


def read_export(root: Path) -> Export:
    """Read and validate an export; raise ``InputError`` listing all problems found."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(
            "export folder not found.",
            path=root,
            hint="run `portal synth datpark` for the synthetic export, or point --export at it.",
        )
    problems: list[str] = []
    labels = _index(_read_table(root, "labels.csv", problems), "labels.csv", problems)
    splits = _index(_read_table(root, "splits.csv", problems), "splits.csv", problems)
    clinical = _index(_read_table(root, "clinical.csv", problems), "clinical.csv", problems)

    exams_dir = root / "exams"
    folders: dict[str, list[Path]] = {}
    if not exams_dir.is_dir():
        problems.append("exams/: missing (one folder per exam holding its DICOM files)")
    else:
        for folder in sorted(p for p in exams_dir.iterdir() if p.is_dir()):
            folders[folder.name] = sorted(p for p in folder.rglob("*") if p.is_file())

    for exam, (number, row) in labels.items():
        if row["label"] not in LABELS:
            problems.append(
                f"labels.csv row {number}: label {row['label']!r} is not one of {', '.join(LABELS)}"
            )
        if row["gray_zone"].lower() not in ("true", "false"):
            problems.append(f"labels.csv row {number}: gray_zone must be true or false")
        if not (row.get("patient_id") or "").strip():
            problems.append(f"labels.csv row {number}: empty patient_id")
        if exam not in folders:
            problems.append(
                f"labels.csv row {number}: label for missing exam {exam} (no exams/{exam}/ folder)"
            )
        elif not folders[exam]:
            problems.append(f"exams/{exam}/: empty folder; add its DICOM files or drop its label")
        if exam not in splits:
            problems.append(f"splits.csv: no split for exam {exam} (labels.csv row {number})")
        if exam not in clinical:
            problems.append(f"clinical.csv: no row for exam {exam} (labels.csv row {number})")
    for exam in folders:
        if exam not in labels:
            problems.append(f"exams/{exam}/: exam with no label; add a row to labels.csv")
    for exam, (number, row) in splits.items():
        if row["split"] not in SPLITS:
            problems.append(
                f"splits.csv row {number}: split {row['split']!r} is not one of {', '.join(SPLITS)}"
            )
        if exam not in labels:
            problems.append(f"splits.csv row {number}: exam {exam} has no label")

    by_patient: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for exam, (_, row) in labels.items():
        if exam in splits:
            by_patient[row["patient_id"]][splits[exam][1]["split"]].append(exam)
    for patient, placed in sorted(by_patient.items()):
        if len(placed) > 1:
            where = "; ".join(f"{s}: {', '.join(sorted(e))}" for s, e in sorted(placed.items()))
            problems.append(
                f"splits.csv: patient {patient} is in {len(placed)} splits ({where}); "
                "splits must be at patient level"
            )

    if problems:
        raise InputError(
            f"the export breaks the contract in {len(problems)} place(s):",
            path=root,
            problems=problems,
            hint="fix the export (see docs/synthetic-export.md for the contract) and re-run.",
        )
    return Export(
        root=root,
        labels={e: r for e, (_, r) in labels.items()},
        splits={e: r["split"] for e, (_, r) in splits.items()},
        clinical={e: r for e, (_, r) in clinical.items()},
        files=folders,
    )
