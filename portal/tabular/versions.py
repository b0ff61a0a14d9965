"""What the release machinery needs of a tabular staging and of two tabular releases: the
labels and splits (for the label commitments), and what changed between versions.

A diff of two tabular versions (``changes.json``, ``CHANGELOG.md``) says, computed from
the released tables, never typed: the surgeries added and removed in each split, the
surgeries relabelled (``aki_stage`` or ``aki``), those whose labels were withheld
before and are public now, those that moved split, the surgeries whose rows changed in
each other table (static values, creatinine samples, signal minutes), and the files
added, removed or changed. Semver for data, as for every kind: MAJOR when labels or
splits change or surgeries are removed, MINOR when surgeries are added or withheld
labels are released, PATCH when only values or files change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from portal.errors import InputError
from portal.tabular.release import LABEL_COLUMNS

KEY = "surgery_id"
#: the tables whose rows are compared per surgery, beside the labels
VALUE_TABLES = ("surgeries", "labs", "signals")


def staged_labels(
    staging: Path, classes: tuple[str, str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Each staged surgery's label as the commitments read it (``label``: the card's
    negative or positive class; ``aki_stage``), and its split."""
    staging = Path(staging)
    negative, positive = classes
    labels_table = pq.read_table(staging / "labels.parquet", columns=[KEY, *LABEL_COLUMNS])
    splits_table = pq.read_table(staging / "splits.parquet", columns=[KEY, "split"])
    labels = {}
    for row in labels_table.to_pylist():
        aki, stage = row["aki"], row["aki_stage"]
        labels[row[KEY]] = {
            "label": "" if aki is None else (positive if aki else negative),
            "aki_stage": "" if stage is None else str(stage),
        }
    splits = {row[KEY]: row["split"] for row in splits_table.to_pylist()}
    stray = sorted(set(labels) ^ set(splits))
    if stray:
        raise InputError(
            f"{staging / 'splits.parquet'}: surgery {stray[0]} is in one of splits.parquet "
            "and labels.parquet, not both.",
            path=str(staging / "splits.parquet"),
            hint="ingest again: the staging's tables must describe the same surgeries.",
        )
    return labels, splits


def _table(release: Path, name: str) -> pa.Table | None:
    files = sorted((release / "data" / name).glob("*.parquet"))
    if not files:
        return None
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")


def _rows_by_surgery(table: pa.Table | None) -> dict[str, int]:
    """Surgery -> a hash of its rows (sorted), so two versions compare row sets cheaply."""
    if table is None or table.num_rows == 0:
        return {}
    import pandas as pd

    frame = table.to_pandas()
    frame = frame.sort_values(list(frame.columns), kind="stable", na_position="last")
    hashed = pd.util.hash_pandas_object(frame, index=False).astype("uint64")
    out: dict[str, int] = {}
    for surgery, values in hashed.groupby(frame[KEY].to_numpy(), sort=True):
        acc = 0
        for position, value in enumerate(values.to_numpy().tolist()):
            acc = (acc * 1_000_003 + value + position) % (1 << 64)
        out[str(surgery)] = acc
    return out


@dataclass
class TabularChanges:
    """Everything that differs from the parent tabular version, as data."""

    parent: str | None
    surgeries_added: dict[str, list[str]] = field(default_factory=dict)  # per split
    surgeries_removed: dict[str, list[str]] = field(default_factory=dict)  # per split
    labels_changed: list[dict[str, str]] = field(default_factory=list)
    labels_released: list[str] = field(default_factory=list)  # withheld before, public now
    splits_changed: list[dict[str, str]] = field(default_factory=list)
    values_changed: dict[str, list[str]] = field(default_factory=dict)  # table -> surgeries
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)

    @property
    def required_bump(self) -> str | None:
        if self.labels_changed or self.splits_changed or self.surgeries_removed:
            return "major"
        if self.surgeries_added or self.labels_released:
            return "minor"
        if self.values_changed or self.files_added or self.files_removed or self.files_changed:
            return "patch"
        return None

    @property
    def empty(self) -> bool:
        return self.required_bump is None

    def to_dict(self) -> dict:
        return {**asdict(self), "required_bump": self.required_bump}

    def to_markdown(self, version: str, note: str = "") -> str:
        lines = [f"## {version}", ""]
        lines.append(
            "First release."
            if self.parent is None
            else f"Changes from {self.parent} (computed from the data):"
        )
        lines.append("")
        if note:
            lines += [note, ""]

        def block(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"- {title}: {len(items)}")
                lines.extend(f"  - {item}" for item in items[:200])
                if len(items) > 200:
                    lines.append(f"  - … and {len(items) - 200} more (see changes.json)")

        for split, ids in self.surgeries_added.items():
            block(f"surgeries added to {split}", ids)
        for split, ids in self.surgeries_removed.items():
            block(f"surgeries removed from {split}", ids)
        block(
            "surgeries relabelled",
            [
                f"{c[KEY]} ({c['split']}) {c['field']}: {c['from']} → {c['to']}"
                for c in self.labels_changed
            ],
        )
        block("labels released (withheld before)", self.labels_released)
        block("splits changed", [f"{c[KEY]}: {c['from']} → {c['to']}" for c in self.splits_changed])
        for table, ids in self.values_changed.items():
            block(f"surgeries whose {table} rows changed", ids)
        block("files added", self.files_added)
        block("files removed", self.files_removed)
        block("files changed", self.files_changed)
        if self.parent is not None and self.empty:
            lines.append("- no change")
        return "\n".join(lines).rstrip() + "\n"


def _splits(release: Path) -> dict[str, str]:
    path = release / "data" / "splits.parquet"
    if not path.exists():
        return {}
    return {r[KEY]: r["split"] for r in pq.read_table(path, columns=[KEY, "split"]).to_pylist()}


def _labels(release: Path) -> dict[str, dict]:
    table = _table(release, "labels")
    return {} if table is None else {r[KEY]: r for r in table.to_pylist()}


def compare_releases(
    parent: Path | None,
    new: Path,
    *,
    parent_version: str | None,
    parent_files: dict[str, str] | None,
    new_files: dict[str, str],
) -> TabularChanges:
    """What changed from the published release folder ``parent`` to ``new`` (both laid
    out by :func:`portal.tabular.release.write_release_files`); files by their sha256."""
    changes = TabularChanges(parent=parent_version)
    if parent is None:
        return changes
    parent, new = Path(parent), Path(new)
    old_split, new_split = _splits(parent), _splits(new)
    for split in dict.fromkeys([*new_split.values(), *old_split.values()]):
        added = sorted(s for s, w in new_split.items() if w == split and s not in old_split)
        removed = sorted(s for s, w in old_split.items() if w == split and s not in new_split)
        if added:
            changes.surgeries_added[split] = added
        if removed:
            changes.surgeries_removed[split] = removed
    both = sorted(set(old_split) & set(new_split))
    old_labels, new_labels = _labels(parent), _labels(new)
    for surgery in both:
        before, after = old_labels.get(surgery, {}), new_labels.get(surgery, {})
        if before.get("aki") is None and after.get("aki") is not None:
            changes.labels_released.append(surgery)
        elif after.get("aki") is not None or before.get("aki") is not None:
            for column in LABEL_COLUMNS:
                if before.get(column) != after.get(column):
                    changes.labels_changed.append(
                        {
                            KEY: surgery,
                            "split": new_split[surgery],
                            "field": column,
                            "from": str(before.get(column)),
                            "to": str(after.get(column)),
                        }
                    )
        if old_split[surgery] != new_split[surgery]:
            changes.splits_changed.append(
                {KEY: surgery, "from": old_split[surgery], "to": new_split[surgery]}
            )
    common = set(both)
    for name in VALUE_TABLES:
        before, after = _rows_by_surgery(_table(parent, name)), _rows_by_surgery(_table(new, name))
        differ = sorted(s for s in common if before.get(s) != after.get(s))
        if differ:
            changes.values_changed[name] = differ
    if parent_files is not None:
        changes.files_added = sorted(set(new_files) - set(parent_files))
        changes.files_removed = sorted(set(parent_files) - set(new_files))
        changes.files_changed = sorted(
            p for p in set(parent_files) & set(new_files) if parent_files[p] != new_files[p]
        )
    return changes
