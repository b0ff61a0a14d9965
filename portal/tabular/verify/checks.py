"""The independent checks of a de-identified tabular release.

1. Every identifying value of the input (``inputs.IDENTIFYING``, the notes' names, places
   and numbers, the signal files' names and header lines) is searched, as a sequence of
   words, in every string cell, column name and file name of the release; numbers of six
   digits or more also inside longer tokens and among the numeric cells.
2. Patterns: a NIR (13 or 15 digits shaped like one), a French phone number, an e-mail,
   and a date anywhere but the columns allowed to hold shifted date-times.
3. Date shifts: each released date-time minus the input's is the same for every
   date-time of a patient (surgeries and laboratory samples), and not zero; every input
   patient has one pseudonym and no two share one; signals keep the input's minute
   offsets from the start of surgery.
4. k-anonymity and ℓ-diversity recomputed here, by grouping the released rows on the
   card's quasi-identifiers: distinct patients per class, distinct values of the
   sensitive column per class; ages at or above the top code never exact.
5. No free text: a string cell of four words or more, or longer than 60 characters.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from portal.tabular.verify.inputs import SHIFTED, InputFacts, read_inputs

ALLOWED_DATETIMES = {
    ("surgeries.parquet", "admission_at"),
    ("surgeries.parquet", "surgery_start"),
    ("surgeries.parquet", "surgery_end"),
    ("surgeries.parquet", "discharge_at"),
    ("labs.parquet", "sampled_at"),
}
NIR = re.compile(
    r"(?<![0-9A-Za-z])[12]\s?\d{2}\s?(?:0[1-9]|1[0-2]|[2-9]\d)\s?(?:\d{2}|2[AB])\s?\d{3}\s?\d{3}"
    r"(?:\s?\d{2})?(?![0-9])"
)
PHONE = re.compile(r"(?<![\dA-Za-z])(?:\+33\s?|0)[1-9](?:[\s.-]?\d{2}){4}(?![\dA-Za-z])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
DATE = re.compile(
    r"\b(?:\d{4}-\d{2}-\d{2}|\d{2}/\d{2}/\d{4}|\d{1,2}\s+(?:janvier|février|mars|avril|mai|"
    r"juin|juillet|août|septembre|octobre|novembre|décembre)\s+\d{4})\b",
    re.IGNORECASE,
)
TOKEN = re.compile(r"[a-z0-9]+")
NUMERIC_VALUE = re.compile(r"[\d\s.+()/-]+")
FREE_TEXT_WORDS = 4
FREE_TEXT_LENGTH = 60


@dataclass
class RiskPolicy:
    """The data card's declared risk bounds, as this verifier reads them."""

    quasi_identifiers: tuple[str, ...]
    sensitive: str
    k: int
    l: int  # noqa: E741
    age_top_code: int = 90

    @classmethod
    def from_card(cls, block: Mapping | None) -> RiskPolicy:
        block = dict(block or {})
        return cls(
            quasi_identifiers=tuple(
                block.get("quasi_identifiers", ("age", "sex", "centre", "procedure", "urgency"))
            ),
            sensitive=str(block.get("sensitive", "aki")),
            k=int(block.get("k", 5)),
            l=int(block.get("l", 2)),
            age_top_code=int(block.get("age_top_code", 90)),
        )


@dataclass
class Verification:
    """What the verifier found; a release is accepted only if ``findings`` is empty."""

    findings: list[str] = field(default_factory=list)
    k: int = 0
    k_rows: int = 0
    l: int = 0  # noqa: E741
    classes: int = 0
    values_searched: int = 0
    cells_searched: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return text.casefold()


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(_fold(text))


class _Release:
    """The release's tables, read with pyarrow; strings gathered once, with where they are."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.tables: dict[str, pa.Table] = {}
        self.strings: dict[str, str] = {}  # string -> where
        self.numbers: dict[int, str] = {}  # whole numbers of 6 digits or more -> where
        self.files = sorted(
            p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file()
        )
        for name in self.files:
            self.strings.setdefault(name, f"file name {name}")
            if name.endswith(".parquet"):
                self.tables[name] = pq.read_table(self.folder / name)
            elif name.endswith((".json", ".md", ".csv", ".txt", ".cff", ".bib")):
                text = (self.folder / name).read_text(errors="replace")
                for line in text.splitlines():
                    self.strings.setdefault(line, f"{name} (text)")
        for name, table in self.tables.items():
            for column in table.column_names:
                self.strings.setdefault(column, f"{name}: column name")
                data = table.column(column)
                kind = data.type
                if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                    for value in pc.unique(data).to_pylist():
                        if value is not None:
                            self.strings.setdefault(value, f"{name}:{column}")
                elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
                    array = data.to_numpy(zero_copy_only=False).astype(float)
                    array = array[np.isfinite(array)]
                    big = np.unique(array[(np.abs(array) >= 1e5) & (array == np.floor(array))])
                    for value in big.tolist():
                        self.numbers.setdefault(int(value), f"{name}:{column}")


def _search_values(release: _Release, facts: InputFacts, result: Verification) -> None:
    index: dict[str, set[str]] = defaultdict(set)
    tokenised = {}
    digit_runs: dict[str, str] = {}
    for text, where in release.strings.items():
        tokens = _tokens(text)
        tokenised[text] = " " + " ".join(tokens) + " "
        for token in tokens:
            index[token].add(text)
        for run in re.findall(r"\d{6,}", text):
            digit_runs.setdefault(run, where)
    result.cells_searched = len(release.strings)
    for value, origin in facts.values.items():
        tokens = _tokens(value)
        if not tokens or len("".join(tokens)) < 3:
            continue
        result.values_searched += 1
        candidates = set(index.get(tokens[0], ()))
        for token in tokens[1:]:
            candidates &= index.get(token, set())
            if not candidates:
                break
        needle = " " + " ".join(tokens) + " "
        found = False
        for text in sorted(candidates):
            if needle in tokenised[text]:
                result.findings.append(
                    f"{release.strings[text]}: holds {value!r} (identifying, from {origin})"
                )
                found = True
                break
        if found:
            continue
        if NUMERIC_VALUE.fullmatch(value):  # a phone number written with separators
            numbers = [re.sub(r"\D", "", value)]
        else:  # the digit runs of an alphanumeric ID: "2B07590" holds no 6-digit number
            numbers = re.findall(r"\d+", value)
        for digits in numbers:
            if len(digits) < 6:
                continue
            if int(digits) in release.numbers:
                result.findings.append(
                    f"{release.numbers[int(digits)]}: holds the number {digits} "
                    f"(identifying, from {origin})"
                )
            for run, where in digit_runs.items():
                if digits in run:
                    result.findings.append(
                        f"{where}: holds {digits} inside {run} (identifying, from {origin})"
                    )
                    break


def _key_ok(nir: str) -> bool:
    digits = re.sub(r"\s", "", nir)
    if len(digits) != 15:
        return True  # 13 digits without key: shaped like a NIR, reported
    body = digits[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(digits[13:])


def _search_patterns(release: _Release, result: Verification) -> None:
    for text, where in release.strings.items():
        if any(NIR.search(text) and _key_ok(m.group(0)) for m in NIR.finditer(text)):
            result.findings.append(f"{where}: a NIR-shaped number in {text[:40]!r}")
        if PHONE.search(text):
            result.findings.append(f"{where}: a phone number in {text[:40]!r}")
        if EMAIL.search(text):
            result.findings.append(f"{where}: an e-mail address in {text[:40]!r}")
        if DATE.search(text):
            result.findings.append(f"{where}: a date in {text[:40]!r}")
        words = text.split()
        if len(words) >= FREE_TEXT_WORDS or len(text) > FREE_TEXT_LENGTH:
            if where.endswith("(text)"):
                continue  # the release's own documentation, checked for values and patterns
            result.findings.append(f"{where}: free text {text[:40]!r}")
    for name, table in release.tables.items():
        for column in table.column_names:
            kind = table.column(column).type
            if (pa.types.is_timestamp(kind) or pa.types.is_date(kind)) and (
                name,
                column,
            ) not in ALLOWED_DATETIMES:
                result.findings.append(f"{name}:{column}: a date column no contract allows")


def _linkage(private: Path, result: Verification) -> dict[str, str]:
    """input surgery ID -> released surgery ID (the only thing read from the private side)."""
    path = Path(private) / "linkage.csv"
    if not path.is_file():
        result.findings.append(f"{path}: missing, date shifts cannot be checked")
        return {}
    with open(path, newline="") as handle:
        return {
            row["input_surgery_id"]: row["surgery_id"]
            for row in csv.DictReader(handle)
            if row.get("released", "True") in ("True", "true", "1")
        }


def _check_shifts(
    release: _Release, facts: InputFacts, linkage: dict[str, str], result: Verification
) -> None:
    surgeries = release.tables.get("surgeries.parquet")
    if surgeries is None:
        result.findings.append("surgeries.parquet: missing")
        return
    rows = {row["surgery_id"]: row for row in surgeries.to_pylist()}
    if set(rows) != set(linkage.values()):
        result.findings.append(
            "surgeries.parquet: its surgeries are not those the linkage says were released"
        )
    patient_shift: dict[str, int] = {}
    patient_of_ipp: dict[str, str] = {}
    ipp_of_patient: dict[str, str] = {}
    shift_of_surgery: dict[str, int] = {}
    for input_id, output_id in linkage.items():
        row = rows.get(output_id)
        if row is None:
            continue
        ipp = facts.ipp_of_surgery.get(input_id, "")
        patient = row.get("patient_id")
        if patient_of_ipp.setdefault(ipp, patient) != patient:
            result.findings.append(f"patient {ipp[:2]}…: two pseudonyms in surgeries.parquet")
        if ipp_of_patient.setdefault(patient, ipp) != ipp:
            result.findings.append(f"surgeries.parquet: pseudonym {patient} shared by two patients")
        shifts = set()
        for (_file, column), (_, out_column) in SHIFTED.items():
            before = facts.datetimes.get(input_id, {}).get(column)
            after = row.get(out_column)
            if before is None or after is None:
                continue
            shifts.add(int((after - before).total_seconds() // 60))
        if len(shifts) != 1:
            result.findings.append(f"surgeries.parquet {output_id}: date-times shifted unequally")
            continue
        shift = shifts.pop()
        if shift == 0:
            result.findings.append(f"surgeries.parquet {output_id}: date-times not shifted")
        if patient_shift.setdefault(patient, shift) != shift:
            result.findings.append(
                f"surgeries.parquet {output_id}: shift differs from the patient's other surgery"
            )
        shift_of_surgery[output_id] = shift
    labs = release.tables.get("labs.parquet")
    if labs is not None:
        released_labs: dict[str, list[dt.datetime]] = defaultdict(list)
        for row in labs.select(["surgery_id", "sampled_at"]).to_pylist():
            released_labs[row["surgery_id"]].append(row["sampled_at"])
        for input_id, output_id in linkage.items():
            if output_id not in shift_of_surgery:
                continue
            before = sorted(facts.labs.get(input_id, []))
            after = sorted(released_labs.get(output_id, []))
            shift = dt.timedelta(minutes=shift_of_surgery[output_id])
            if [t + shift for t in before] != after:
                result.findings.append(
                    f"labs.parquet {output_id}: sample times are not the input's shifted by "
                    "the patient's shift"
                )
    signals = release.tables.get("signals.parquet")
    if signals is not None:
        minutes: dict[str, list[int]] = defaultdict(list)
        for sid, minute in zip(
            signals.column("surgery_id").to_pylist(),
            signals.column("minute").to_pylist(),
            strict=True,
        ):
            minutes[sid].append(minute)
        for input_id, output_id in linkage.items():
            if output_id in rows and sorted(facts.signal_minutes.get(input_id, [])) != sorted(
                minutes.get(output_id, [])
            ):
                result.findings.append(
                    f"signals.parquet {output_id}: minute offsets differ from the input's"
                )


def _check_orphans(release: _Release, result: Verification) -> None:
    """Every row of every table belongs to a released surgery; labels and splits cover all."""
    surgeries = release.tables.get("surgeries.parquet")
    if surgeries is None:
        return
    released = set(pc.unique(surgeries.column("surgery_id")).to_pylist())
    for name, table in release.tables.items():
        if name == "surgeries.parquet" or "surgery_id" not in table.column_names:
            continue
        ids = set(pc.unique(table.column("surgery_id")).to_pylist())
        if ids - released:
            result.findings.append(
                f"{name}: {len(ids - released)} surgery(ies) not in surgeries.parquet "
                "(a suppressed surgery's rows?)"
            )
        if name in ("labels.parquet", "splits.parquet") and released - ids:
            result.findings.append(
                f"{name}: {len(released - ids)} released surgery(ies) lack a row"
            )


def _check_risk(release: _Release, policy: RiskPolicy, result: Verification) -> None:
    surgeries = release.tables.get("surgeries.parquet")
    labels = release.tables.get("labels.parquet")
    if surgeries is None or labels is None:
        result.findings.append("surgeries.parquet or labels.parquet: missing, k and l unmeasured")
        return
    missing = [
        q for q in (*policy.quasi_identifiers, "patient_id") if q not in surgeries.column_names
    ]
    if missing or policy.sensitive not in labels.column_names:
        result.findings.append(
            f"quasi-identifier or sensitive column missing: {missing or policy.sensitive}"
        )
        return
    sensitive = dict(
        zip(
            labels.column("surgery_id").to_pylist(),
            labels.column(policy.sensitive).to_pylist(),
            strict=True,
        )
    )
    patients: dict[tuple, set] = defaultdict(set)
    rows: dict[tuple, int] = defaultdict(int)
    values: dict[tuple, set] = defaultdict(set)
    columns = [surgeries.column(q).to_pylist() for q in policy.quasi_identifiers]
    for i, (sid, patient) in enumerate(
        zip(
            surgeries.column("surgery_id").to_pylist(),
            surgeries.column("patient_id").to_pylist(),
            strict=True,
        )
    ):
        group = tuple(str(c[i]) for c in columns)
        patients[group].add(patient)
        rows[group] += 1
        values[group].add(sensitive.get(sid))
    if not patients:
        result.findings.append("surgeries.parquet: no row")
        return
    result.k = min(len(p) for p in patients.values())
    result.k_rows = min(rows.values())
    result.l = min(len(v) for v in values.values())
    result.classes = len(patients)
    if result.k < policy.k:
        result.findings.append(
            f"k-anonymity: a class of {result.k} patient(s) on "
            f"{', '.join(policy.quasi_identifiers)}; the card requires k={policy.k}"
        )
    if result.l < policy.l:
        result.findings.append(
            f"l-diversity: a class with {result.l} value(s) of {policy.sensitive}; "
            f"the card requires l={policy.l}"
        )
    if "age" in surgeries.column_names:
        for age in set(surgeries.column("age").to_pylist()):
            try:
                exact = int(str(age))
            except ValueError:
                continue
            if exact >= policy.age_top_code:
                result.findings.append(f"surgeries.parquet:age: exact age {exact} (top code)")


def verify_tabular(
    export: Path,
    release: Path,
    private: Path,
    card_block: Mapping | None = None,
    *,
    facts: InputFacts | None = None,
) -> Verification:
    """Check the de-identified ``release`` against the raw ``export`` it came from."""
    policy = RiskPolicy.from_card(card_block)
    facts = facts or read_inputs(Path(export))
    seen = _Release(Path(release))
    result = Verification()
    _search_values(seen, facts, result)
    _search_patterns(seen, result)
    _check_shifts(seen, facts, _linkage(Path(private), result), result)
    _check_orphans(seen, result)
    _check_risk(seen, policy, result)
    result.findings = list(dict.fromkeys(result.findings))
    return result


def summary(result: Verification) -> Iterable[str]:
    yield (
        f"{result.values_searched} identifying values searched in {result.cells_searched} "
        f"distinct strings; k={result.k} (rows {result.k_rows}), l={result.l} over "
        f"{result.classes} classes; {len(result.findings)} finding(s)"
    )
    yield from result.findings
