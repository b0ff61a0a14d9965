"""What a tabular release holds, in the terms a reader's page needs: its tables with their
columns and rows per split, the surgeries per split and class, and the re-identification
risk its de-identification report records.

The site (a later stage) renders these; it names no ML-KIDCAR column itself
(``tests/test_modality_names.py``): every column name, unit and description comes from
here, read from the release's own files (``data/<table>/<split>.parquet``,
``data/splits.parquet``, ``deid_report.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from portal.tabular.figures import SPLIT_ORDER
from portal.tabular.release import PER_SPLIT, _describe, _hf_dtype, _unit

#: What each table of the release is, in words (docs/tabular-export.md).
TABLE_TEXT = {
    "surgeries": "one row per surgery: the static pre- and intra-operative table",
    "labels": "one row per surgery: the KDIGO stage and the label (withheld where the "
    "split's labels are)",
    "labs": "creatinine samples before and after surgery",
    "signals": "the intra-operative monitoring, one row per surgery and minute",
}
#: The classes of the card (``task.classes``) as an English page shows them.
CLASS_WORDS = {"no_aki": "no AKI", "aki": "AKI"}
#: The record a row of the challenge is about, and its identifier column.
RECORD = "surgery"
RECORD_ID = "surgery_id"


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str
    unit: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    rows: dict[str, int]  # split -> rows
    columns: tuple[Column, ...]
    files: tuple[str, ...]  # release-relative paths


@dataclass
class Risk:
    """The re-identification risk of a release, as its de-identification report has it."""

    quasi_identifiers: list[str]
    sensitive: str
    k: int | None
    k_required: int | None
    l: int | None  # noqa: E741  (the l of l-diversity)
    l_required: int | None
    classes: int | None  # equivalence classes
    generalised: dict[str, str] = field(default_factory=dict)  # column -> what was done
    suppressed_records: int | None = None
    suppressed_patients: int | None = None
    max_suppression: float | None = None
    counted_over: str = ""
    removed: dict[str, str] = field(default_factory=dict)  # source file -> what was removed
    dates: str = ""  # the report's words for the date shift
    age_top: int | None = None  # ages from this one on are grouped
    age_grouped: int | None = None  # records whose age was grouped


def _splits(release: Path, table: str) -> list[str]:
    present = {p.stem for p in (Path(release) / "data" / table).glob("*.parquet")}
    return [s for s in SPLIT_ORDER if s in present] + sorted(present - set(SPLIT_ORDER))


def is_tabular_release(release: Path) -> bool:
    return (Path(release) / "data" / "splits.parquet").is_file()


def records(release: Path) -> int:
    """Surgeries in the release (rows of ``data/splits.parquet``)."""
    path = Path(release) / "data" / "splits.parquet"
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0


def tables(release: Path) -> list[Table]:
    """The release's tables in the writer's order, each with its columns and rows per split
    (read from the Parquet footers, not the data)."""
    release = Path(release)
    found = []
    for name in PER_SPLIT:
        splits = _splits(release, name)
        if not splits:
            continue
        rows, files, schema = {}, [], None
        for split in splits:
            path = release / "data" / name / f"{split}.parquet"
            meta = pq.ParquetFile(path)
            rows[split] = meta.metadata.num_rows
            schema = schema or meta.schema_arrow
            files.append(path.relative_to(release).as_posix())
        columns = tuple(
            Column(f.name, _hf_dtype(f.type), _unit(f.name), _describe(f.name)) for f in schema
        )
        found.append(Table(name, TABLE_TEXT.get(name, ""), rows, columns, tuple(files)))
    return found


def class_counts(release: Path) -> dict[str, dict[str, int]]:
    """Per split: surgeries, positive (AKI), negative and withheld labels."""
    release = Path(release)
    counts = {}
    for split in _splits(release, "labels"):
        path = release / "data" / "labels" / f"{split}.parquet"
        values = pq.read_table(path, columns=["aki"]).column("aki").to_pylist()
        counts[split] = {
            "records": len(values),
            "positive": sum(1 for v in values if v is True),
            "negative": sum(1 for v in values if v is False),
            "withheld": sum(1 for v in values if v is None),
            "file": path.relative_to(release).as_posix(),
        }
    return counts


def risk(release: Path) -> Risk | None:
    """The risk section of the release's ``deid_report.json``; None without one."""
    path = Path(release) / "deid_report.json"
    if not path.is_file():
        return None
    report = json.loads(path.read_text("utf-8"))
    block = report.get("risk") or {}
    if not block:
        return None
    removed = {
        source: ", ".join(map(str, what)) if isinstance(what, list) else str(what)
        for source, what in (report.get("removed") or {}).items()
    }
    dates = report.get("dates") or {}
    ages = report.get("ages") or {}
    return Risk(
        quasi_identifiers=list(block.get("quasi_identifiers") or []),
        sensitive=str(block.get("sensitive", "")),
        k=block.get("k"),
        k_required=block.get("k_required"),
        l=block.get("l"),
        l_required=block.get("l_required"),
        classes=block.get("equivalence_classes"),
        generalised={str(k): str(v) for k, v in (block.get("generalisation") or {}).items()},
        suppressed_records=block.get("suppressed_surgeries"),
        suppressed_patients=block.get("suppressed_patients"),
        max_suppression=block.get("max_suppression"),
        counted_over=str(block.get("counted_over", "")),
        removed=removed,
        dates=str(dates.get("shift", "")),
        age_top=ages.get("top_code"),
        age_grouped=ages.get("surgeries_at_or_above"),
    )


def datasets_recipe(name: str) -> list[str]:
    """Load the release with ``datasets``: one config per table."""
    return [
        "# after the curl or dvc get recipe and its `portal verify ... --expect`",
        "from datasets import load_dataset",
        "",
        f'surgeries = load_dataset("{name}", "surgeries")  # the verified folder',
        f'signals = load_dataset("{name}", "signals")  # one row per surgery and minute',
        'print(surgeries["train"][0]["surgery_id"])',
    ]
