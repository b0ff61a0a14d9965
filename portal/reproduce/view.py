"""The release as team code sees it: the training labels, and no answer key.

A published release may hold the labels of every split (DaT-Park publishes them all
once the challenge is over). A reproduction must not hand them to the code it
scores: every team step (``train``, ``predict``, ``explain``) sees a *view* of the
release in which only the training splits keep their labels. In the view:

- ``metadata/labels.csv`` keeps every row, with the label columns (every column but
  the exam, patient and split identifiers) emptied outside the training splits;
- each Parquet shard of another split is rewritten with those columns null (same
  schema, so code that reads the column still runs);
- the files that describe labels in aggregate or by exam (the dataset card's
  statistics, the changelog and its data, the manifest and its checksums, which
  could confirm a guess) are left out;
- everything else (images, other tables, citations) is the release's own file,
  bound read-only.

Views are built once per release content hash and training splits, atomically,
under ``.portal-cache/views/``.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

from portal.core.atomic import atomic_dir

KEYS = ("exam_id", "patient_id", "split")
LEFT_OUT = ("README.md", "CHANGELOG.md", "changes.json", "manifest.json", "SHA256SUMS")
LABELS = "metadata/labels.csv"


def label_columns(release: Path) -> list[str]:
    """Every column of the release's labels table that is not an identifier."""
    with open(Path(release) / LABELS, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return [name for name in header if name not in KEYS]


def _split_of_shard(name: str) -> str:
    return name.split("-", 1)[0]


def training_view(
    release: Path, cache: Path, content_hash: str, training: list[str]
) -> dict[str, Path]:
    """The view, as a mapping from relative path (inside the release) to the file or
    folder bound there."""
    release = Path(release)
    digest = hashlib.sha256(f"{content_hash}|{','.join(sorted(training))}".encode()).hexdigest()
    folder = Path(cache) / "views" / digest[:24]
    if not (folder / ".complete").exists():
        with atomic_dir(folder, overwrite=True) as tmp:
            _build(release, tmp, set(training))
            (tmp / ".complete").write_text(content_hash + "\n")
    view: dict[str, Path] = {}
    for entry in sorted(release.iterdir()):
        if entry.name in LEFT_OUT or entry.is_symlink():
            continue
        if entry.name in ("metadata", "data") and entry.is_dir():
            for part in sorted(entry.iterdir()):
                relative = f"{entry.name}/{part.name}"
                replaced = folder / relative
                view[relative] = replaced if replaced.exists() else part
        else:
            view[entry.name] = entry
    return view


def _build(release: Path, out: Path, training: set[str]) -> None:
    columns = label_columns(release)
    (out / "metadata").mkdir()
    with open(release / LABELS, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
        fields = list(rows[0]) if rows else []
    splits = {}
    splits_file = release / "metadata" / "splits.csv"
    if splits_file.exists():
        with open(splits_file, newline="", encoding="utf-8") as handle:
            splits = {r["exam_id"]: r["split"] for r in csv.DictReader(handle)}
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        split = row.get("split") or splits.get(row.get("exam_id", ""), "")
        if split not in training:
            row = {k: ("" if k in columns else v) for k, v in row.items()}
        writer.writerow(row)
    (out / LABELS).write_text(text.getvalue(), encoding="utf-8")
    shards = sorted((release / "data").glob("*.parquet")) if (release / "data").is_dir() else []
    if shards:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (out / "data").mkdir()
        for shard in shards:
            if _split_of_shard(shard.name) in training:
                continue
            table = pq.read_table(shard)
            for name in columns:
                index = table.schema.get_field_index(name)
                if index >= 0:
                    kind = table.schema.field(index).type
                    table = table.set_column(index, name, pa.nulls(table.num_rows, type=kind))
            pq.write_table(table, out / "data" / shard.name, compression="zstd", row_group_size=16)
    for path in [out, *out.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o444)
