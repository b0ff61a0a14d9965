"""What the verifier knows of a tabular export, read with its own reader.

This module does not use the export contract's reader or the de-identifier: it has its
own list of what is identifying, and reads the CSV files with the standard library.
A value it knows to be identifying is never allowed in a release, whatever the
de-identifier did with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Columns whose every value identifies someone or something that must not be published.
IDENTIFYING = {
    "patients.csv": (
        "ipp",
        "centre",
        "nir",
        "family_name",
        "birth_name",
        "given_name",
        "birth_date",
        "address",
        "postcode",
        "city",
        "phone",
        "email",
    ),
    "surgeries.csv": (
        "surgery_id",
        "ipp",
        "stay_number",
        "centre",
        "operating_room",
        "surgeon",
        "anaesthetist",
        "procedure_detail",
    ),
    "notes.csv": ("author",),
}
# Date-times a release may hold only shifted, and where: input (file, column) -> output
SHIFTED = {
    ("surgeries.csv", "admission_at"): ("surgeries.parquet", "admission_at"),
    ("surgeries.csv", "surgery_start"): ("surgeries.parquet", "surgery_start"),
    ("surgeries.csv", "surgery_end"): ("surgeries.parquet", "surgery_end"),
    ("surgeries.csv", "discharge_at"): ("surgeries.parquet", "discharge_at"),
}
NOTE_TITLES = re.compile(
    r"(?:\b(?:Dr|Pr|M\.|Mme|Mlle|née|né|Aide|Opérateur|Anesthésiste|adressée?\s+par\s+le\s+Dr)"
    r"\s*:?\s+)((?:[A-ZÀ-Ý][\w'’-]*\s?){1,3})"
)
NOTE_PLACES = re.compile(r"\b(?:de|à|en)\s+((?:[A-ZÀ-Ý][\w'’-]+[\s-]?){1,3})")
NOTE_NUMBERS = re.compile(r"\d(?:[\d .]{4,}\d)")


@dataclass
class InputFacts:
    """Identifying values, by where they came from; each patient's dates; signal minutes."""

    values: dict[str, str] = field(default_factory=dict)  # value -> where (file:column)
    birth_dates: set[dt.date] = field(default_factory=set)
    ipp_of_surgery: dict[str, str] = field(default_factory=dict)
    datetimes: dict[str, dict[str, dt.datetime]] = field(default_factory=dict)  # sid -> col
    labs: dict[str, list[dt.datetime]] = field(default_factory=dict)  # sid -> sample times
    signal_minutes: dict[str, list[int]] = field(default_factory=dict)  # sid -> offsets
    signal_files: int = 0


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        return list(csv.DictReader(handle))


def _stamp(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        return None


def read_inputs(export: Path) -> InputFacts:
    export = Path(export)
    facts = InputFacts()

    def add(value: str | None, where: str) -> None:
        value = (value or "").strip()
        if value:
            facts.values.setdefault(value, where)

    for name, columns in IDENTIFYING.items():
        path = export / name
        if not path.is_file():
            continue
        for row in _rows(path):
            for column in columns:
                add(row.get(column), f"{name}:{column}")
            if name == "patients.csv" and row.get("birth_date"):
                try:
                    born = dt.date.fromisoformat(row["birth_date"].strip())
                except ValueError:
                    born = None
                if born is not None:  # the shapes a birth date takes in other systems
                    facts.birth_dates.add(born)
                    for shape in ("%d/%m/%Y", "%Y%m%d", "%d%m%Y", "%d.%m.%Y"):
                        add(born.strftime(shape), "patients.csv:birth_date")
                phone = re.sub(r"\D", "", row.get("phone") or "")
                add(phone, "patients.csv:phone")
    if (export / "surgeries.csv").is_file():
        for row in _rows(export / "surgeries.csv"):
            sid = row.get("surgery_id", "")
            facts.ipp_of_surgery[sid] = row.get("ipp", "")
            facts.datetimes[sid] = {
                column: stamp
                for (file, column) in SHIFTED
                if file == "surgeries.csv" and (stamp := _stamp(row.get(column, ""))) is not None
            }
    if (export / "labs.csv").is_file():
        for row in _rows(export / "labs.csv"):
            stamp = _stamp(row.get("sampled_at", ""))
            if stamp is not None:
                facts.labs.setdefault(row.get("surgery_id", ""), []).append(stamp)
    if (export / "notes.csv").is_file():
        for row in _rows(export / "notes.csv"):
            text = row.get("text") or ""
            for pattern in (NOTE_TITLES, NOTE_PLACES):
                for match in pattern.finditer(text):
                    add(match.group(1), "notes.csv:text")
            for match in NOTE_NUMBERS.finditer(text):
                add(re.sub(r"\D", "", match.group(0)), "notes.csv:text")
            for line in text.splitlines():
                if len(line.split()) >= 4:
                    add(line, "notes.csv:text")
    _read_signals(export, facts, add)
    return facts


def _read_signals(export: Path, facts: InputFacts, add) -> None:
    folder = export / "signals"
    if not folder.is_dir():
        return
    for surgery in sorted(folder.iterdir()):
        add(surgery.name, "signals/ folder name")
        start = facts.datetimes.get(surgery.name, {}).get("surgery_start")
        for path in sorted(surgery.glob("*")):
            if not path.is_file():
                continue
            facts.signal_files += 1
            for part in re.split(r"[_.]", path.stem):
                if re.search(r"\d", part):
                    add(part, f"signal file name {path.name}")
            stamps = []
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.startswith("#"):
                        for part in line[1:].split("|"):
                            add(part, f"signal header of {path.name}")
                        continue
                    first = line.split(",", 1)[0].strip()
                    if first[:1].isdigit():
                        stamps.append(first.replace(" ", "T"))
            if start is None or not stamps:
                continue
            try:
                times = np.array(stamps, dtype="datetime64[m]")
            except ValueError:
                continue
            offsets = (times - np.datetime64(start, "m")).astype(np.int64)
            facts.signal_minutes.setdefault(surgery.name, []).extend(offsets.tolist())
