"""The tabular export contract (docs/tabular-export.md): its files, columns and types, and
a reader that refuses a bad export with one line naming the file, the line and the fix.

What the de-identifier needs to know of each column is said here once: its type, and its
role (``direct`` identifier, ``datetime`` to shift, ``free text``, ``clinical``...).
The independent verifier does not read this module (a test checks it): it has its own
list of what is identifying.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from portal.errors import InputError

STAMP = "%Y-%m-%d %H:%M"
MAX_SHOWN = 3  # problems named in the one-line message before "(and N more)"


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it may be empty, and its role for de-identification.

    Types: ``id``, ``text``, ``int``, ``float``, ``flag`` (0 or 1), ``date`` (YYYY-MM-DD),
    ``datetime`` (YYYY-MM-DD HH:MM, local time), ``category`` (one of ``values``).
    Roles: ``key`` (an identifier the portal replaces by a keyed pseudonym), ``direct``
    (a direct identifier: removed), ``datetime`` (shifted per patient), ``text`` (free
    text: removed), ``clinical`` (released, maybe generalised), ``label``, ``split``.
    """

    type: str
    role: str = "clinical"
    optional: bool = False
    values: tuple[str, ...] = ()
    unit: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: dict[str, Column]
    key: tuple[str, ...] = ()  # columns whose combination is unique


def _cat(*values: str, role: str = "clinical") -> Column:
    return Column("category", role=role, values=values)


PATIENTS = TableSpec(
    "patients.csv",
    {
        "ipp": Column("id", role="key"),
        "centre": Column("id", role="centre"),
        "nir": Column("text", role="direct"),
        "family_name": Column("text", role="direct"),
        "birth_name": Column("text", role="direct", optional=True),
        "given_name": Column("text", role="direct"),
        "sex": _cat("M", "F"),
        "birth_date": Column("date", role="direct"),
        "address": Column("text", role="direct", optional=True),
        "postcode": Column("text", role="direct", optional=True),
        "city": Column("text", role="direct", optional=True),
        "phone": Column("text", role="direct", optional=True),
        "email": Column("text", role="direct", optional=True),
    },
    key=("ipp",),
)
SURGERIES = TableSpec(
    "surgeries.csv",
    {
        "surgery_id": Column("id", role="key"),
        "ipp": Column("id", role="key"),
        "stay_number": Column("text", role="direct"),
        "centre": Column("id", role="centre"),
        "admission_at": Column("datetime", role="datetime"),
        "surgery_start": Column("datetime", role="datetime"),
        "surgery_end": Column("datetime", role="datetime"),
        "discharge_at": Column("datetime", role="datetime"),
        "operating_room": Column("text", role="direct"),
        "surgeon": Column("text", role="direct"),
        "anaesthetist": Column("text", role="direct"),
        "age": Column("int", unit="years"),
        "sex": _cat("M", "F"),
        "height_cm": Column("float", unit="cm"),
        "weight_kg": Column("float", unit="kg"),
        "bmi": Column("float", unit="kg/m²"),
        "diabetes": Column("flag"),
        "hypertension": Column("flag"),
        "ckd_stage": _cat("1", "2", "3a", "3b", "4", "5"),
        "baseline_creatinine_umol_l": Column("float", unit="µmol/L"),
        "baseline_egfr": Column("float", role="age-derived", unit="mL/min/1.73 m²"),
        "lvef_pct": Column("float", unit="%"),
        "nyha_class": _cat("1", "2", "3", "4"),
        "euroscore_ii_pct": Column("float", role="age-derived", unit="%"),
        "redo": Column("flag"),
        "procedure": _cat("CABG", "valve", "combined", "aortic", "other"),
        "procedure_detail": Column("text", role="rare", optional=True),
        "urgency": _cat("elective", "urgent", "emergency", "salvage"),
        "cpb_minutes": Column("int", unit="min"),
        "cross_clamp_minutes": Column("int", unit="min"),
        "transfusion": Column("flag"),
        "rbc_units": Column("int", unit="units"),
        "lowest_haematocrit_pct": Column("float", unit="%"),
    },
    key=("surgery_id",),
)
LABS = TableSpec(
    "labs.csv",
    {
        "surgery_id": Column("id", role="key"),
        "sampled_at": Column("datetime", role="datetime"),
        "creatinine_umol_l": Column("float", unit="µmol/L"),
    },
    key=("surgery_id", "sampled_at"),
)
OUTCOMES = TableSpec(
    "outcomes.csv",
    {
        "surgery_id": Column("id", role="key"),
        "aki_stage": _cat("0", "1", "2", "3", role="label"),
        "aki": Column("flag", role="label"),
    },
    key=("surgery_id",),
)
NOTES = TableSpec(
    "notes.csv",
    {
        "surgery_id": Column("id", role="key"),
        "written_at": Column("datetime", role="datetime"),
        "author": Column("text", role="direct"),
        "text": Column("text", role="text"),
    },
)
SPLITS = TableSpec(
    "splits.csv",
    {
        "surgery_id": Column("id", role="key"),
        "split": _cat("train", "public_test", "private_test", role="split"),
    },
    key=("surgery_id",),
)
TABLES = (PATIENTS, SURGERIES, LABS, OUTCOMES, NOTES, SPLITS)
SIGNAL_CHANNELS = {
    "map_mmhg": "mmHg",
    "hr_bpm": "beats/min",
    "spo2_pct": "%",
    "temp_c": "°C",
    "norepinephrine_ug_kg_min": "µg/kg/min",
    "cpb_flow_l_min": "L/min",
}
SIGNAL_MARGIN = dt.timedelta(minutes=60)  # samples may start or end this far outside surgery
SIGNAL_NAME = re.compile(r"^[^/]+\.csv$")


@dataclass
class TabularExport:
    """A validated export: every table as column lists, and the signals by surgery."""

    root: Path
    tables: dict[str, dict[str, list]]  # file name -> column -> values (parsed)
    signals: dict[str, list[SignalFile]] = field(default_factory=dict)

    def rows(self, table: str) -> int:
        columns = self.tables[table]
        return len(next(iter(columns.values()))) if columns else 0


@dataclass
class SignalFile:
    """One monitor file: its name (relative to the export), minute stamps and channels."""

    name: str
    header_lines: list[str]
    times: np.ndarray  # datetime64[m]
    values: dict[str, np.ndarray]  # channel -> float64, NaN when empty


class _Problems:
    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, text: str) -> None:
        self.items.append(text)

    def raise_if_any(self, hint: str) -> None:
        if not self.items:
            return
        message = "; ".join(self.items[:MAX_SHOWN])
        if len(self.items) > MAX_SHOWN:
            message += f" (and {len(self.items) - MAX_SHOWN} more)"
        raise InputError(message, path=self.path, hint=hint)


def _parse(value: str, column: Column) -> object:
    """The value, parsed by its type; raises ValueError with what was expected."""
    if column.type in ("id", "text"):
        return value
    if column.type == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError("not a whole number") from None
    if column.type == "float":
        try:
            number = float(value)
        except ValueError:
            raise ValueError("not a number") from None
        if not np.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if column.type == "flag":
        if value not in ("0", "1"):
            raise ValueError("not 0 or 1")
        return value == "1"
    if column.type == "date":
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else _bad_date()
        except ValueError:
            raise ValueError("not a date YYYY-MM-DD") from None
    if column.type == "datetime":
        try:
            return dt.datetime.strptime(value, STAMP)
        except ValueError:
            raise ValueError("not a date-time YYYY-MM-DD HH:MM") from None
    if column.type == "category":
        if value not in column.values:
            raise ValueError(f"not one of {', '.join(column.values)}")
        return value
    raise AssertionError(column.type)


def _bad_date():
    raise ValueError


def read_table(root: Path, spec: TableSpec) -> dict[str, list]:
    """One table of the export, every cell checked against the contract."""
    path = root / spec.name
    problems = _Problems(spec.name)
    if not path.is_file():
        raise InputError(
            "missing: the contract needs this file.",
            path=spec.name,
            hint="export it (docs/tabular-export.md lists every file and column).",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"not UTF-8 (byte {error.start}).", path=spec.name, hint="export the file as UTF-8."
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    missing = [name for name in spec.columns if name not in header]
    extra = [name for name in header if name not in spec.columns]
    if missing:
        problems.add(f"line 1: missing column {', '.join(repr(m) for m in missing)}")
    if extra:
        problems.add(
            f"line 1: column {', '.join(repr(e) for e in extra)} is not in the contract "
            "(an unknown column may hold identifiers)"
        )
    problems.raise_if_any("name the columns as docs/tabular-export.md does, and no others.")
    index = {name: header.index(name) for name in spec.columns}
    columns: dict[str, list] = {name: [] for name in spec.columns}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            problems.add(f"line {line}: {len(row)} cells for {len(header)} columns")
            continue
        for name, column in spec.columns.items():
            value = row[index[name]]
            if value == "":
                if not column.optional:
                    problems.add(f"line {line}, column {name}: empty")
                columns[name].append(None)
                continue
            try:
                columns[name].append(_parse(value, column))
            except ValueError as error:
                problems.add(f"line {line}, column {name}: {value!r} is {error}")
                columns[name].append(None)
    seen: dict[tuple, int] = {}
    if spec.key:
        for number, values in enumerate(zip(*(columns[k] for k in spec.key), strict=True)):
            if values in seen:
                problems.add(
                    f"line {number + 2}: {'/'.join(map(str, values))} repeats line "
                    f"{seen[values] + 2}"
                )
            seen.setdefault(values, number)
    problems.raise_if_any("correct the values named, then run again.")
    return columns


def _check_references(export: TabularExport) -> None:
    surgeries = export.tables["surgeries.csv"]
    known = set(surgeries["surgery_id"])
    patients = set(export.tables["patients.csv"]["ipp"])
    problems = _Problems("surgeries.csv")
    for line, (ipp, start, end, admitted, discharged) in enumerate(
        zip(
            surgeries["ipp"],
            surgeries["surgery_start"],
            surgeries["surgery_end"],
            surgeries["admission_at"],
            surgeries["discharge_at"],
            strict=True,
        ),
        start=2,
    ):
        if ipp not in patients:
            problems.add(f"line {line}: IPP {ipp} is not in patients.csv")
        if end <= start:
            problems.add(f"line {line}: surgery_end {end:{STAMP}} is not after its start")
        if admitted > start:
            problems.add(f"line {line}: admission_at is after surgery_start")
        if discharged < end:
            problems.add(f"line {line}: discharge_at is before surgery_end")
    problems.raise_if_any("correct the values named, then run again.")
    for spec in (LABS, OUTCOMES, NOTES, SPLITS):
        problems = _Problems(spec.name)
        ids = export.tables[spec.name]["surgery_id"]
        for line, surgery in enumerate(ids, start=2):
            if surgery not in known:
                problems.add(f"line {line}: surgery {surgery} is not in surgeries.csv")
        if spec in (OUTCOMES, SPLITS):
            for surgery in sorted(known - set(ids))[:MAX_SHOWN]:
                problems.add(f"surgery {surgery} of surgeries.csv has no row")
        problems.raise_if_any(f"every row of {spec.name} names a surgery of surgeries.csv.")


def _read_signal(root: Path, relative: str) -> SignalFile:
    """A monitor file: '#' header lines, then timestamp and the channels; fast path with
    pyarrow, and a line-by-line pass to name the line when pyarrow refuses it."""
    data = (root / relative).read_bytes()
    header_lines = []
    skip = 0
    for raw in data.split(b"\n"):
        if not raw.startswith(b"#"):
            break
        header_lines.append(raw.decode("utf-8", "replace"))
        skip += 1
    columns = ["timestamp", *SIGNAL_CHANNELS]
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(skip_rows=skip),
            convert_options=pacsv.ConvertOptions(
                column_types={"timestamp": pa.timestamp("s")}
                | {c: pa.float64() for c in SIGNAL_CHANNELS},
                timestamp_parsers=[STAMP],
                include_columns=columns,
            ),
        )
    except (pa.ArrowInvalid, KeyError):
        _locate_signal_error(data, skip, relative)
        raise  # _locate_signal_error always raises; this keeps type checkers content
    if table.column("timestamp").null_count:
        _locate_signal_error(data, skip, relative)
    header = data.split(b"\n")[skip].decode("utf-8", "replace").strip().split(",")
    if header != columns:
        raise InputError(
            f"line {skip + 1}: columns {','.join(header)!r} are not {','.join(columns)!r}.",
            path=relative,
            hint="export the monitor's channels as docs/tabular-export.md names them.",
        )
    times = table.column("timestamp").to_numpy().astype("datetime64[m]")
    values = {c: table.column(c).to_numpy(zero_copy_only=False) for c in SIGNAL_CHANNELS}
    return SignalFile(relative, header_lines, times, values)


def _locate_signal_error(data: bytes, skip: int, relative: str) -> None:
    lines = data.decode("utf-8", "replace").split("\n")
    header = lines[skip].strip().split(",")
    expected = ["timestamp", *SIGNAL_CHANNELS]
    if header != expected:
        missing = [c for c in expected if c not in header]
        raise InputError(
            f"line {skip + 1}: missing column {', '.join(map(repr, missing))}"
            if missing
            else f"line {skip + 1}: columns {','.join(header)!r} are not {','.join(expected)!r}",
            path=relative,
            hint="export the monitor's channels as docs/tabular-export.md names them.",
        )
    for number, line in enumerate(lines[skip + 1 :], start=skip + 2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(expected):
            raise InputError(
                f"line {number}: {len(cells)} cells for {len(expected)} columns.",
                path=relative,
                hint="each line holds a timestamp and one value per channel (empty if none).",
            )
        try:
            dt.datetime.strptime(cells[0], STAMP)
        except ValueError:
            raise InputError(
                f"line {number}, column timestamp: {cells[0]!r} is not YYYY-MM-DD HH:MM.",
                path=relative,
                hint="write one sample per minute, stamped YYYY-MM-DD HH:MM.",
            ) from None
        for name, cell in zip(expected[1:], cells[1:], strict=True):
            if cell == "":
                continue
            try:
                float(cell)
            except ValueError:
                raise InputError(
                    f"line {number}, column {name}: {cell!r} is not a number.",
                    path=relative,
                    hint="leave a cell empty when the monitor had no value.",
                ) from None
    raise InputError("unreadable.", path=relative, hint="export it again as CSV.")


def _show(stamp: np.datetime64) -> str:
    return str(stamp).replace("T", " ")


def _read_signals(root: Path, export: TabularExport) -> None:
    surgeries = export.tables["surgeries.csv"]
    window = {
        sid: (start - SIGNAL_MARGIN, end + SIGNAL_MARGIN)
        for sid, start, end in zip(
            surgeries["surgery_id"],
            surgeries["surgery_start"],
            surgeries["surgery_end"],
            strict=True,
        )
    }
    folder = root / "signals"
    if not folder.is_dir():
        raise InputError("missing: the contract needs it.", path="signals/", hint="export it.")
    for entry in sorted(folder.iterdir()):
        relative = f"signals/{entry.name}"
        if not entry.is_dir():
            raise InputError(
                "a file directly under signals/.",
                path=relative,
                hint="put each surgery's monitor files in signals/<surgery_id>/.",
            )
        if entry.name not in window:
            first = next(iter(sorted(entry.iterdir())), None)
            raise InputError(
                f"time series for surgery {entry.name}, which is not in surgeries.csv.",
                path=f"{relative}/{first.name}" if first else relative,
                hint="name the folder after a surgery_id of surgeries.csv, or remove it.",
            )
        low, high = (np.datetime64(t, "m") for t in window[entry.name])
        files = []
        for path in sorted(entry.iterdir()):
            name = f"{relative}/{path.name}"
            if not path.is_file() or path.is_symlink() or not SIGNAL_NAME.match(path.name):
                raise InputError(
                    "not a CSV file.", path=name, hint="signals/<surgery_id>/ holds CSV files only."
                )
            signal = _read_signal(root, name)
            skip = len(signal.header_lines)
            steps = np.diff(signal.times.astype(np.int64))
            if steps.size and steps.min() <= 0:
                row = int(np.argmax(steps <= 0)) + 1
                raise InputError(
                    f"line {row + skip + 2}: {_show(signal.times[row])} is not after the line "
                    f"before ({_show(signal.times[row - 1])}): overlapping times.",
                    path=name,
                    hint="keep one sample per minute, in increasing time order.",
                )
            outside = (signal.times < low) | (signal.times > high)
            if outside.any():
                row = int(np.argmax(outside))
                raise InputError(
                    f"line {row + skip + 2}: {_show(signal.times[row])} is outside surgery "
                    f"{entry.name} (start to end, with {SIGNAL_MARGIN.seconds // 60} min margin).",
                    path=name,
                    hint="check the surgery's times in surgeries.csv or the monitor's clock.",
                )
            files.append(signal)
        files.sort(key=lambda f: f.times[0] if f.times.size else np.datetime64("NaT"))
        for before, after in itertools.pairwise(files):
            if before.times.size and after.times.size and after.times[0] <= before.times[-1]:
                raise InputError(
                    f"line {len(after.header_lines) + 2}: {_show(after.times[0])} overlaps "
                    f"{Path(before.name).name} (to {_show(before.times[-1])}): overlapping times.",
                    path=after.name,
                    hint="a surgery's monitor files must not cover the same minutes.",
                )
        export.signals[entry.name] = files


def read_export(root: Path) -> TabularExport:
    """The whole export, validated; raises InputError naming the file and line."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("not a folder.", path=root, hint="pass the export's folder.")
    export = TabularExport(root=root, tables={})
    for spec in TABLES:
        export.tables[spec.name] = read_table(root, spec)
    _check_references(export)
    _read_signals(root, export)
    return export
