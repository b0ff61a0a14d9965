"""What a reproduction reads of a release, for each kind of data (the card's ``data_kind``).

Scoring needs the same four things whatever the data: each case's split, its reference
label (one of the card's classes), its per-case fields (hard-case flags) and the columns
subgroups are read from. Team steps need the *training view* of the release: the labels
of every split but the training ones withheld, and nothing that gives them away. Each
modality reads these from its own release layout:

- ``dicom``: ``metadata/labels.csv``, ``splits.csv`` and ``clinical.csv`` keyed by the
  exam; the view is :mod:`portal.reproduce.view`'s (unchanged bytes, unchanged cache).
- ``tabular``: Parquet tables, one file per split (``data/<table>/<split>.parquet``) and
  ``data/splits.parquet``, keyed by the challenge's id column (``predictions.id`` of its
  rules). The rules' ``tables:`` name the table that holds the card's ``task.target``
  and the table of one row per case that subgroups are read from; the view nulls every
  column but the id in the labels table's files of the other splits (same schema, so code
  that reads them still runs) and leaves out the ``withheld`` tables of those splits (the
  measurements the label is computed from).

Neither reads the modality's ingest code (``tests/test_boundaries.py``): the layout is the
release's, documented with it.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from portal.core.atomic import atomic_dir
from portal.errors import ConfigError, InputError
from portal.reproduce import view as dicom_view
from portal.reproduce.rules import Challenge, Tables

#: files that describe labels in aggregate or could confirm a guess (as for DICOM)
LEFT_OUT = dicom_view.LEFT_OUT


@dataclass(frozen=True)
class Reference:
    """The truth the portal scores against, read from the release itself."""

    splits: dict[str, str]
    labels: dict[str, str]
    #: each case's label row (its declared fields: hard-case flags, ...)
    fields: dict[str, dict[str, str]]
    #: each case's other columns (DICOM: clinical.csv; tabular: the case table)
    clinical: dict[str, dict[str, str]]

    def exams(self, split: str) -> list[str]:
        return sorted(e for e, s in self.splits.items() if s == split)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class DicomRelease:
    """A DICOM release: CSV metadata keyed by ``exam_id``, Parquet shards under data/."""

    kind = "dicom"

    def reference(self, release: Path) -> Reference:
        meta = Path(release) / "metadata"
        labels = _read_rows(meta / "labels.csv")
        return Reference(
            splits={r["exam_id"]: r["split"] for r in _read_rows(meta / "splits.csv")},
            labels={r["exam_id"]: r["label"] for r in labels},
            fields={r["exam_id"]: r for r in labels},
            clinical={r["exam_id"]: r for r in _read_rows(meta / "clinical.csv")},
        )

    def training_view(
        self, release: Path, cache: Path, content_hash: str, training: list[str]
    ) -> dict[str, Path]:
        return dicom_view.training_view(release, cache, content_hash, training)


def _text(value) -> str:
    """A cell as the scoring code compares it: '' for null, 'true'/'false' for flags."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TabularRelease:
    """A tabular release: ``data/<table>/<split>.parquet`` and ``data/splits.parquet``."""

    kind = "tabular"

    def __init__(
        self,
        tables: Tables,
        id_column: str,
        target: str,
        index: dict[str, int],
        subgroup_columns: list[str],
        hard_cases: tuple[str, ...] = (),
    ) -> None:
        self.tables = tables
        #: the card's hard-case flags (task.fields with hard_cases), columns of the labels
        self.hard_cases = list(hard_cases)
        self.id = id_column
        self.target = target
        self.classes = sorted(index, key=index.get)
        #: two classes and a boolean (or 0/1) target: false is the negative class
        self.binary = list(self.classes) if len(self.classes) == 2 else None
        self.subgroup_columns = subgroup_columns

    def _files(self, release: Path, table: str) -> list[Path]:
        folder = Path(release) / "data" / table
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not files:
            raise InputError(
                f"{folder.relative_to(Path(release).parent)}: no table {table!r} "
                "(data/<table>/<split>.parquet) in the release.",
                hint="check `tables:` in the challenge's challenge.yaml against the release.",
            )
        return files

    def _read(self, path: Path, columns: list[str], release: Path):
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            shown = path.relative_to(Path(release).parent)
            raise ConfigError(
                f"{shown}: no column {', '.join(missing)} (columns: {', '.join(names)}).",
                hint="the challenge's challenge.yaml (predictions.id, subgroups' columns) and "
                "the card's task.target must name columns of the release.",
            )
        return pq.read_table(path, columns=columns).to_pylist()

    def _label(self, value, where: str) -> str:
        if value is None:
            return ""
        if self.binary and (isinstance(value, bool) or value in (0, 1)):
            return self.binary[1] if value else self.binary[0]
        text = str(value)
        if text not in self.classes:
            raise InputError(
                f"{where}: label {text!r} is not one of the card's classes {self.classes}.",
                hint="the card's task.target names the label column; its values are "
                "task.classes (or true/false for two classes).",
            )
        return text

    def reference(self, release: Path) -> Reference:
        release = Path(release)
        splits_file = release / "data" / "splits.parquet"
        if not splits_file.is_file():
            raise InputError(
                f"{release.name}: no data/splits.parquet; this is not a tabular release.",
                hint="check the card's data_kind and the release folder.",
            )
        splits = {
            row[self.id]: row["split"]
            for row in self._read(splits_file, [self.id, "split"], release)
        }
        labels, fields = {}, {}
        for path in self._files(release, self.tables.labels):
            read = [self.id, self.target, *self.hard_cases]
            for number, row in enumerate(self._read(path, read, release)):
                where = f"{path.relative_to(release.parent)} row {number + 1}"
                labels[row[self.id]] = self._label(row[self.target], where)
                fields[row[self.id]] = {k: _text(v) for k, v in row.items()}
        clinical = {}
        columns = [self.id, *dict.fromkeys(self.subgroup_columns)]
        for path in self._files(release, self.tables.cases):
            for row in self._read(path, columns, release):
                clinical[row[self.id]] = {k: _text(v) for k, v in row.items()}
        return Reference(splits=splits, labels=labels, fields=fields, clinical=clinical)

    def training_view(
        self, release: Path, cache: Path, content_hash: str, training: list[str]
    ) -> dict[str, Path]:
        """Relative path inside the release -> the file bound there (files only)."""
        release = Path(release)
        key = f"tabular|{content_hash}|{','.join(sorted(training))}|{self.tables.labels}|"
        key += ",".join(self.tables.withheld)
        digest = hashlib.sha256(key.encode()).hexdigest()
        folder = Path(cache) / "views" / digest[:24]
        if not (folder / ".complete").exists():
            with atomic_dir(folder, overwrite=True) as tmp:
                self._build(release, tmp, set(training))
                (tmp / ".complete").write_text(content_hash + "\n")
        view: dict[str, Path] = {}
        for path in sorted(release.rglob("*")):
            relative = path.relative_to(release)
            if path.is_symlink() or path.is_dir() or relative.parts[0] in LEFT_OUT:
                continue
            parts = relative.parts
            if len(parts) == 3 and parts[0] == "data":
                table, split = parts[1], Path(parts[2]).stem
                if split not in training and table in self.tables.withheld:
                    continue
            replaced = folder / relative
            view[relative.as_posix()] = replaced if replaced.exists() else path
        return view

    def _build(self, release: Path, out: Path, training: set[str]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        target = out / "data" / self.tables.labels
        target.mkdir(parents=True)
        for path in self._files(release, self.tables.labels):
            if path.stem in training:
                continue
            table = pq.read_table(path)
            for index, column in enumerate(table.schema):
                if column.name != self.id:
                    table = table.set_column(
                        index, column.name, pa.nulls(table.num_rows, type=column.type)
                    )
            pq.write_table(table, target / path.name, compression="zstd")
        for path in [out, *out.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o444)


def release_reader(
    data_kind: str,
    challenge: Challenge,
    target: str,
    index: dict[str, int],
    hard_cases: tuple[str, ...] = (),
):
    """The reader of a release of this kind, for these rules (``hard_cases``: the card's
    hard-case flags, read beside the label)."""
    if data_kind == "tabular":
        if challenge.tables is None:
            raise ConfigError(
                f"challenge {challenge.id}: a tabular release needs `tables:` in its "
                "challenge.yaml (labels, cases, withheld).",
                hint="docs/reproduction.md, 'Tabular challenges', shows the block.",
            )
        columns = [s.column for s in challenge.subgroups if not isinstance(s, str)]
        plain = [s for s in challenge.subgroups if isinstance(s, str)]
        return TabularRelease(
            challenge.tables, challenge.predictions.id, target, index, columns + plain, hard_cases
        )
    return DicomRelease()
