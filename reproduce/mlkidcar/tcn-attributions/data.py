"""Read a split of an ML-KIDCAR release: the surgery table, the labels, the signals.

The release holds Parquet tables (docs/tabular-export.md, "What is released"):
surgeries, labels, splits, labs and signals: as a release writes them, one folder per
table under data/ with one file per split (data/surgeries/train.parquet...); as a
staging holds them, one file per table at the root or under data/.
Quasi-identifiers may be generalised (age bands, "*"): every reader copes with that.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq


def table_path(release: Path, name: str) -> Path:
    """The table's file, or its folder of per-split files (pyarrow reads either)."""
    folder = Path(release) / "data" / name
    if folder.is_dir() and any(folder.glob("*.parquet")):
        return folder
    for candidate in (Path(release) / f"{name}.parquet", Path(release) / "data" / f"{name}.parquet"):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{release}: no {name}.parquet")


def split_rows(release: Path, split: str) -> tuple[list[dict], list[int | None]]:
    """The surgery rows of ``split`` (sorted by surgery_id) and their AKI label (None if hidden)."""
    splits = pq.read_table(table_path(release, "splits")).to_pylist()
    wanted = {row["surgery_id"] for row in splits if row["split"] == split}
    if not wanted:
        raise SystemExit(f"{release}: no surgery in split {split!r}")
    labels = {}
    try:
        for row in pq.read_table(table_path(release, "labels")).to_pylist():
            labels[row["surgery_id"]] = None if row["aki"] is None else int(bool(row["aki"]))
    except SystemExit:
        pass
    rows = [r for r in pq.read_table(table_path(release, "surgeries")).to_pylist() if r["surgery_id"] in wanted]
    rows.sort(key=lambda r: r["surgery_id"])
    return rows, [labels.get(r["surgery_id"]) for r in rows]


def age_years(value: object) -> float:
    """An age as released: exact ("67"), a band ("65-69", "<65", "80+", "90+") or "*"."""
    text = str(value)
    if text.isdigit():
        return float(text)
    if "-" in text:
        low, high = text.split("-")
        return (float(low) + float(high)) / 2
    if text.startswith("<"):
        return float(text[1:]) - 8
    if text.endswith("+"):
        return float(text[:-1]) + 4
    return 67.0  # suppressed: the cohort's typical age
