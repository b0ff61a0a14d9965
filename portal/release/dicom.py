"""The DICOM modality's side of ``portal release``: its data files, its dataset card and
what a diff between two of its versions compares.

A DICOM release holds::

    README.md              Hugging Face dataset card (metadata + statistics + Datasheet)
    data/<split>-NNNNN-of-NNNNN.parquet   one row per exam, the volume as a 3-D array
    dicom/<split>/<exam>/<n>.dcm          the de-identified DICOM
    metadata/labels.csv  splits.csv  clinical.csv
    deid_report.json       what de-identification did, and the verifier's result
    croissant.json         Croissant 1.1, record sets read from metadata/

beside what every release holds (``portal/release/build.py``). The volume's pixels and
geometry are read by the DICOM modality's reader (``portal/export/volume.py``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from portal.core.modality import Staged, Written
from portal.core.schema import ChallengeSchema
from portal.errors import InputError, VerificationError
from portal.export.contract import INTEGERS
from portal.export.volume import read_volume
from portal.ingest.report import DeidReport, read_report
from portal.release.build import clone_file
from portal.release.cards import Card, cited_title, provenance_notice
from portal.release.context import ReleaseContext
from portal.release.croissant import croissant
from portal.release.versions import Tables, compare

#: Small shards: a label fix rewrites few of them, and DVC stores changed files only.
EXAMS_PER_SHARD = 16
HF_LICENSES = {"CC-BY-4.0": "cc-by-4.0", "CC0-1.0": "cc0-1.0", "etalab-2.0": "etalab-2.0"}


# -- Parquet --------------------------------------------------------------------------------
def _nested(volumes: np.ndarray):
    """A (k, z, y, x) array as a pyarrow list<list<list<uint16>>> column, without copies
    into Python objects."""
    import pyarrow as pa

    k, z, y, x = volumes.shape
    values = pa.array(volumes.reshape(-1), type=pa.uint16())
    rows = pa.ListArray.from_arrays(
        pa.array(np.arange(0, k * z * y * x + 1, x, dtype=np.int32)), values
    )
    slices = pa.ListArray.from_arrays(
        pa.array(np.arange(0, k * z * y + 1, y, dtype=np.int32)), rows
    )
    return pa.ListArray.from_arrays(pa.array(np.arange(0, k * z + 1, z, dtype=np.int32)), slices)


def _typed(kind: str, value: str | None):
    """A table value as the release stores it: booleans and integers typed, empty as null
    (a boolean is true only when written ``true``)."""
    if kind == "boolean":
        return (value or "").lower() == "true"
    if value in ("", None):
        return None
    if kind == "integer":
        return int(value)
    return float(value) if kind == "number" else value


def _row(exam: str, tables: Tables, withheld: bool, schema: ChallengeSchema) -> dict:
    """One exam's columns, in the order: IDs, split, label, the card's label fields in
    their declared order, then clinical.csv's columns in the file's order."""
    labels, clinical = tables.labels[exam], tables.clinical.get(exam, {})
    row: dict = {
        "exam_id": exam,
        "patient_id": labels.get("patient_id", ""),
        "split": tables.splits[exam],
        "label": None if withheld else labels.get("label"),
    }
    for declared in schema.label_fields():
        row[declared.name] = None if withheld else _typed(declared.type, labels.get(declared.name))
    integers = INTEGERS | schema.integers()
    for name, value in clinical.items():
        if name in ("exam_id", "patient_id"):
            continue
        declared = schema.field(name)
        if name in integers:
            row[name] = _typed("integer", value)
        elif name in ("sex", "centre") or (declared and declared.type == "text"):
            row[name] = value
        elif declared:
            row[name] = _typed(declared.type, value)
        else:
            try:
                row[name] = float(value)
            except (TypeError, ValueError):
                row[name] = value
    return row


@dataclass(frozen=True)
class _Shard:
    """One Parquet file to write: which exams, from which DICOM files."""

    out: str
    name: str
    exams: tuple[str, ...]
    dicom: tuple[str, ...]
    tables: Tables
    withheld: bool
    schema: ChallengeSchema


def _write_shard(shard: _Shard) -> tuple[str, int, tuple[int, ...], int]:
    """Write one shard; return its name, raw volume bytes, common shape (or ()), rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, volumes = [], []
    for exam, path in zip(shard.exams, shard.dicom, strict=True):
        volume, info = read_volume(Path(path))
        volumes.append(volume)
        rows.append({**_row(exam, shard.tables, shard.withheld, shard.schema), **info})
    table = pa.table({name: [r.get(name) for r in rows] for name in rows[0]})
    shapes = {v.shape for v in volumes}
    # one chunk per volume: Parquet's writer then builds the levels of one volume at a
    # time (about 50 MB for a shard of 16 full-size volumes, instead of 300 MB for one
    # array of them all), and writes the very same bytes: same row group, same pages
    column = pa.chunked_array([_nested(v[np.newaxis]) for v in volumes])
    table = table.append_column("volume", column)
    pq.write_table(table, Path(shard.out) / shard.name, compression="zstd", row_group_size=16)
    shape = next(iter(shapes)) if len(shapes) == 1 else ()
    size = sum(v.nbytes for v in volumes)
    del table, column, volumes
    pa.default_memory_pool().release_unused()  # Arrow's pool keeps freed pages otherwise
    return shard.name, size, shape, len(rows)


def _shards_of(
    out: Path,
    split: str,
    exams: list[str],
    tables: Tables,
    dicom_of: dict[str, str],
    withheld: bool,
    schema: ChallengeSchema,
) -> list[_Shard]:
    count = max(1, -(-len(exams) // EXAMS_PER_SHARD))
    return [
        _Shard(
            out=str(out),
            name=f"data/{split}-{index:05d}-of-{count:05d}.parquet",
            exams=tuple(chunk),
            dicom=tuple(str(out / dicom_of[e]) for e in chunk),
            tables=tables,
            withheld=withheld,
            schema=schema,
        )
        for index in range(count)
        if (chunk := exams[index * EXAMS_PER_SHARD : (index + 1) * EXAMS_PER_SHARD])
    ]


def _write_all_shards(shards: list[_Shard], progress) -> list[tuple[str, int, tuple, int]]:
    """Shards are independent: write them on all cores, on threads of this process.

    Parquet's writer and zstd run without the GIL, so threads use the cores as worker
    processes did, without a second copy of NumPy, pyarrow and pydicom in each worker
    nor their start-up (about a second, most of a small release's time).
    """
    from concurrent.futures import ThreadPoolExecutor

    workers = min(os.cpu_count() or 1, len(shards))
    results = []
    if workers < 2:
        for shard in shards:
            results.append(_write_shard(shard))
            if progress:
                progress(len(shard.exams))
        return results
    with ThreadPoolExecutor(workers, thread_name_prefix="shard") as pool:
        for result in pool.map(_write_shard, shards):
            results.append(result)
            if progress:
                progress(result[3])
    return results


# -- the dataset card -----------------------------------------------------------------------
def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def _statistics(tables: Tables, exams: list[str], schema: ChallengeSchema) -> dict:
    labels = Counter((tables.splits[e], tables.labels[e]["label"]) for e in exams)
    flagged = {
        f.name: sum(tables.labels[e].get(f.name, "").lower() == "true" for e in exams)
        for f in schema.label_fields()
        if f.type == "boolean"
    }
    ages = [int(tables.clinical[e]["age"]) for e in exams if tables.clinical.get(e, {}).get("age")]
    return {
        "exams": len(exams),
        "patients": len({tables.labels[e]["patient_id"] for e in exams}),
        "by_split_and_label": {f"{s}/{label}": n for (s, label), n in sorted(labels.items())},
        "shares": {
            name: round(count / len(exams), 3) if exams else 0.0 for name, count in flagged.items()
        },
        "centres": dict(sorted(Counter(tables.clinical[e]["centre"] for e in exams).items())),
        "sex": dict(sorted(Counter(tables.clinical[e]["sex"] for e in exams).items())),
        "age": {"median": statistics.median(ages), "min": min(ages), "max": max(ages)}
        if ages
        else {},
    }


ARROW_TO_HF = {
    "string": "string",
    "large_string": "string",
    "bool": "bool",
    "int64": "int64",
    "double": "float64",
    "float": "float32",
    "int32": "int32",
}


def _features(schema, classes: list[str], shape) -> list[dict]:
    """Hugging Face features for every Parquet column: the label as a class label, the
    volume as a 3-D array, the rest by their Arrow type."""
    out = []
    for column in schema:
        if column.name == "label":
            names = {str(i): name for i, name in enumerate(classes)}
            out.append({"name": "label", "dtype": {"class_label": {"names": names}}})
        elif column.name == "volume":
            if shape:
                out.append(
                    {
                        "name": "volume",
                        "dtype": {"array3_d": {"shape": list(shape), "dtype": "uint16"}},
                    }
                )
            else:
                out.append({"name": "volume", "sequence": {"sequence": {"sequence": "uint16"}}})
        else:
            out.append({"name": column.name, "dtype": ARROW_TO_HF.get(str(column.type), "string")})
    return out


def _dataset_card(
    card: Card,
    version: str,
    shards: dict[str, list[str]],
    split_info: dict[str, dict],
    shape,
    stats: dict,
    content_hash: str,
    total_bytes: int,
    notes: str,
    withheld: list[str],
    schema,
    synthetic: bool = False,
) -> str:
    meta = card.meta
    features = _features(schema, meta.task.classes, shape)
    header = {
        "pretty_name": cited_title(meta),
        "license": HF_LICENSES.get(meta.license, "other"),
        "language": meta.language,
        "task_categories": ["image-classification"],
        "tags": [*meta.keywords, "medical", *(["synthetic"] if synthetic else [])],
        "size_categories": [_size_category(stats["exams"])],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": split, "path": f"data/{split}-*"}
                    for split in meta.schema.splits
                    if shards.get(split)
                ],
            }
        ],
        "dataset_info": {
            "features": features,
            "splits": [{"name": s, **split_info[s]} for s in meta.schema.splits if s in split_info],
            "dataset_size": sum(v["num_bytes"] for v in split_info.values()),
            "download_size": total_bytes,
        },
    }
    table = "\n".join(f"| {key} | {value} |" for key, value in stats["by_split_and_label"].items())
    centres = ", ".join(f"{k}: {v}" for k, v in stats["centres"].items())
    sexes = ", ".join(f"{k}: {v}" for k, v in stats["sex"].items())
    age = stats["age"]
    notice = provenance_notice(meta) if synthetic else None
    body = [
        f"# {cited_title(meta)}",
        "",
        *([f"> **{notice}**", ""] if notice else []),
        meta.summary,
        "",
        f"**Version {version}**, content hash `{content_hash}`. Every file is listed with "
        "its sha256 in `manifest.json` and `SHA256SUMS` (`sha256sum -c SHA256SUMS`).",
        "",
    ]
    if notes:
        body += ["## Release notes", "", notes.strip(), ""]
    body += [
        "## Statistics (computed from this release)",
        "",
        f"- exams: {stats['exams']}, patients: {stats['patients']}",
        *(
            f"- {name.replace('_', '-')} share: {share:.1%}"
            for name, share in stats["shares"].items()
        ),
        f"- centres: {centres}",
        f"- sex: {sexes}",
    ]
    if age:
        body.append(f"- age: median {age['median']}, range {age['min']} to {age['max']}")
    body += ["", "| split/label | exams |", "|---|---|", table, ""]
    if withheld:
        body += [
            f"Labels of {', '.join(withheld)} are withheld (split policy); for an "
            "embargoed split, `label_commitments.json` publishes a commitment to them.",
            "",
        ]
    body += [
        "## Loading",
        "",
        "```python",
        "import datasets",
        'ds = datasets.load_dataset("path/to/this/release")',
        "```",
        "",
    ]
    body.append(card.body.strip())
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{front}---\n\n" + "\n".join(body) + "\n"


def _copy_dicom(staging: Path, out: Path, tables: Tables) -> dict[str, str]:
    """dicom/<exam>/ of staging → dicom/<split>/<exam>/: copies (or reflinks), never hard
    links, so that nothing done to staging reaches the release, nor the reverse."""
    first: dict[str, str] = {}
    for exam in sorted(tables.labels):
        source = staging / "dicom" / exam
        for path in sorted(source.glob("*.dcm")):
            relative = f"dicom/{tables.splits[exam]}/{exam}/{path.name}"
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            clone_file(path, target)
            first.setdefault(exam, relative)
    return first


def _write_metadata(staging: Path, out: Path, tables: Tables, withheld: list[str]) -> None:
    shutil.copyfile(staging / "splits.csv", out / "metadata" / "splits.csv")
    shutil.copyfile(staging / "clinical.csv", out / "metadata" / "clinical.csv")
    with open(staging / "labels.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = reader.fieldnames or [], list(reader)
    for row in rows:
        if tables.splits[row["exam_id"]] in withheld:
            for name in columns:
                if name not in ("exam_id", "patient_id"):
                    row[name] = ""
    with open(out / "metadata" / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@dataclass(frozen=True)
class _Figures:
    """What the DICOM data files gave, for the dataset card."""

    tables: Tables
    exams: list[str]
    shards: dict[str, list[str]]
    split_info: dict[str, dict]
    shape: tuple | None


def _check_report(staging: Path) -> DeidReport:
    report_path = staging / "deid_report.json"
    if not report_path.exists():
        raise InputError(
            "no deid_report.json: this folder was not made by `portal ingest`.",
            path=staging,
            hint="run `portal ingest <challenge>` first; releases are built from staging only.",
        )
    report = read_report(report_path)
    if report.verifier.passed is not True:
        raise VerificationError(
            f"{staging}: the verifier did not pass on this staging; nothing is released.",
            hint="re-run `portal ingest`; it stages only verified data.",
        )
    return report


class DicomRelease:
    """DICOM images: Parquet shards of volumes, the de-identified DICOM tree, the metadata
    tables, a dataset card and Croissant made from the card and those tables."""

    kind = "dicom"

    def check(self, staging: Path, card: Card) -> Staged:
        from portal.export.contract import check_staging  # the staging tables, against it

        schema = card.meta.schema
        check_staging(staging, schema)
        report = _check_report(staging)
        tables = Tables.read(staging)
        if not tables.labels:
            raise InputError("staging holds no exam.", path=staging, hint="run `portal ingest`.")
        return Staged(
            labels=tables.labels,
            splits=tables.splits,
            commit_fields=tuple(f.name for f in schema.hard_case_fields()),
            key_id=report.profile.key_id,
            unit="exams",
        )

    def reverify(self, staging: Path, export: Path, card: Card) -> None:
        from portal.verify_deid.verifier import verify_folder

        verdict = verify_folder(staging, export)
        if not verdict.passed:
            counts = ", ".join(f"{k}: {v}" for k, v in verdict.counts().items())
            raise VerificationError(
                f"the verifier found identifying traces in {staging} ({counts}); "
                "nothing is released.",
                hint=f"run `portal verify-deid {staging} --against {export}` to see them, "
                "then re-ingest.",
            )

    def write_data(
        self,
        out: Path,
        staging: Path,
        staged: Staged,
        *,
        card: Card,
        withheld: list[str],
        text: ReleaseContext,
        progress: Callable[[int], None] | None = None,
    ) -> Written:
        schema = card.meta.schema
        tables = Tables.read(staging)
        exams = sorted(tables.labels)
        for folder in ("data", "dicom", "metadata"):
            (out / folder).mkdir()
        dicom_files = _copy_dicom(staging, out, tables)
        _write_metadata(staging, out, tables, withheld)
        shutil.copyfile(staging / "deid_report.json", out / "deid_report.json")
        jobs: list[_Shard] = []
        for split in schema.splits:
            members = [e for e in exams if tables.splits[e] == split]
            if members:
                jobs += _shards_of(
                    out, split, members, tables, dicom_files, split in withheld, schema
                )
        shards: dict[str, list[str]] = {}
        split_info: dict[str, dict] = {}
        shapes = set()
        for name, size, shape_, rows in _write_all_shards(jobs, progress):
            split = name.removeprefix("data/").split("-")[0]
            shards.setdefault(split, []).append(name)
            info = split_info.setdefault(split, {"num_examples": 0, "num_bytes": 0})
            info["num_examples"] += rows
            info["num_bytes"] += size
            shapes.add(shape_)
        shape = next(iter(shapes)) if len(shapes) == 1 and () not in shapes else None
        return Written(
            counts={s: v["num_examples"] for s, v in split_info.items()},
            detail=_Figures(tables, exams, shards, split_info, shape),
        )

    def compare(
        self,
        parent: Path | None,
        parent_version: str | None,
        parent_files: dict[str, str] | None,
        out: Path,
        staged: Staged,
        withheld: list[str],
        files: dict[str, str],
        card: Card,
    ):
        schema = card.meta.schema
        parent_tables = Tables.read(parent / "metadata") if parent is not None else None
        tables = Tables.read(out / "metadata")
        return compare(
            parent_tables,
            Tables(
                labels=staged.labels, splits=staged.splits, clinical=tables.clinical
            ).withholding(withheld),
            label_fields=("label", *(f.name for f in schema.hard_case_fields())),
            parent_version=parent_version,
            parent_files=parent_files,
            new_files=files,
        )

    def write_descriptors(self, out: Path, written: Written, text: ReleaseContext) -> None:
        import pyarrow.parquet as pq

        card, figures = text.card, written.detail
        (out / "croissant.json").write_text(
            json.dumps(
                croissant(card, text.version, text.date, text.content_hash, text.files, text.cite),
                indent=2,
                ensure_ascii=False,
            )
            + "\n"
        )
        stats = _statistics(figures.tables, figures.exams, card.meta.schema)
        first_shard = next(iter(figures.shards.values()))[0]
        (out / "README.md").write_text(
            _dataset_card(
                card,
                text.version,
                figures.shards,
                figures.split_info,
                figures.shape,
                stats,
                text.content_hash,
                text.payload.total_bytes,
                text.notes,
                text.withheld,
                pq.read_schema(out / first_shard),
                text.synthetic,
            )
        )
