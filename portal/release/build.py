"""``portal release``: verified staging → an immutable, citable, checksummed release.

Layout of ``data/<challenge>/releases/<version>/``::

    README.md              Hugging Face dataset card (metadata + statistics + Datasheet)
    data/<split>-NNNNN-of-NNNNN.parquet   one row per exam, the volume as a 3-D array
    dicom/<split>/<exam>/<n>.dcm          the de-identified DICOM
    metadata/labels.csv  splits.csv  clinical.csv
    deid_report.json       what de-identification did, and the verifier's result
    croissant.json  CITATION.cff  datacite.json  citation.bib
    CHANGELOG.md  changes.json             computed from the parent version
    manifest.json  SHA256SUMS              every file, its size and sha256

The release is built in a temporary folder, checked against its own manifest,
made read-only, then renamed into place. A published version never changes: building
it again with the same content is a no-op, with other content it is refused, and a
version lower than the latest published one is refused too. Released files share no
inode with staging (a copy, or a reflink where the file system offers one), so no
change made elsewhere can reach them, and they are written read-only (files 0444,
folders 0555).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import shutil
import stat
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import yaml

from portal import __version__
from portal.core import atomic
from portal.core.schema import ChallengeSchema
from portal.errors import (
    InputError,
    OutputExistsError,
    VerificationError,
    VersionError,
)
from portal.export.contract import INTEGERS
from portal.ingest.report import DeidReport, read_report
from portal.release.cards import Card, cited_title, provenance_notice
from portal.release.citation import bibtex, citation_cff, datacite
from portal.release.commitment import FILE as COMMITMENTS
from portal.release.commitment import commitments, policies_at
from portal.release.croissant import croissant
from portal.release.manifest import (
    DESCRIPTORS,
    PLACEHOLDER,
    Manifest,
    build_manifest,
    payload_hash,
    read_manifest,
    seal,
    write_manifest,
)
from portal.release.versions import (
    Tables,
    check_version,
    compare,
    next_version,
    parse_version,
    published_versions,
)

#: Small shards: a label fix rewrites few of them, and DVC stores changed files only.
EXAMS_PER_SHARD = 16
HF_LICENSES = {"CC-BY-4.0": "cc-by-4.0", "CC0-1.0": "cc0-1.0", "etalab-2.0": "etalab-2.0"}


@dataclass(frozen=True)
class ReleaseSummary:
    path: Path
    version: str
    content_hash: str
    files: int
    bytes: int
    exams: dict[str, int]
    changes: dict
    already_published: bool = False


def check_increasing(releases: Path, challenge: str, version: str) -> None:
    """Refuse a new version that is not above every published one."""
    published = published_versions(releases)
    if version in published or not published:
        return
    latest = published[-1]
    if parse_version(version) < parse_version(latest):
        raise VersionError(
            f"version {version} of {challenge} is lower than its latest release {latest}; "
            "versions must increase.",
            hint=f"release it as {next_version(latest, 'patch')}, "
            f"{next_version(latest, 'minor')} or {next_version(latest, 'major')} (as the "
            "changes require): rename it under `releases:` in params.yaml, then run "
            f"`portal release {challenge} --version <new>`.",
        )


def _parent_of(releases: Path, version: str) -> str | None:
    older = [v for v in published_versions(releases) if parse_version(v) < parse_version(version)]
    return older[-1] if older else None


def _check_staging(staging: Path) -> DeidReport:
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


# -- Parquet --------------------------------------------------------------------------------
def _volume(path: Path) -> tuple[np.ndarray, dict]:
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    spacing = [float(v) for v in ds.get("PixelSpacing", [0, 0])]
    info = {
        "manufacturer": str(ds.get("Manufacturer", "")),
        "model": str(ds.get("ManufacturerModelName", "")),
        "pixel_spacing_mm": spacing[0] if spacing else 0.0,
        "slice_thickness_mm": float(ds.get("SliceThickness", 0) or 0),
    }
    return pixels.astype(np.uint16, copy=False), info


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
        volume, info = _volume(Path(path))
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


# -- the release ----------------------------------------------------------------------------
def build_release(
    challenge: str,
    staging: Path,
    releases: Path,
    card: Card,
    *,
    version: str,
    date: str,
    notes: str,
    lower_bump_reason: str | None = None,
    export: Path | None = None,
    key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReleaseSummary:
    """Build ``releases/<version>`` from ``staging``; see the module docstring.

    With ``export``, the independent verifier checks the staging against it once
    more before anything is built: a release never rests on an old verdict alone.
    """
    parse_version(version)
    check_increasing(Path(releases), challenge, version)
    if not notes or not notes.strip():
        raise InputError(
            "a release needs a changelog entry.",
            hint=f"add notes for {version} under `releases:` in params.yaml.",
        )
    staging, releases = Path(staging), Path(releases)
    from portal.export.contract import check_staging  # the staging tables, against the contract

    schema = card.meta.schema
    check_staging(staging, schema)
    deid_report = _check_staging(staging)
    if export is not None:
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
    tables = Tables.read(staging)
    exams = sorted(tables.labels)
    if not exams:
        raise InputError("staging holds no exam.", path=staging, hint="run `portal ingest`.")

    parent_version = _parent_of(releases, version)
    parent_manifest = read_manifest(releases / parent_version) if parent_version else None
    parent_tables = Tables.read(releases / parent_version / "metadata") if parent_version else None

    target = releases / version
    existing = read_manifest(target) if (target / "manifest.json").exists() else None
    policies = policies_at(card, date)
    withheld = [s for s, policy in policies.items() if policy != "public"]
    committed, commitment_note = commitments(
        challenge,
        version,
        key,
        tables.labels,
        tables.splits,
        policies,
        releases / parent_version if parent_version else None,
        tuple(f.name for f in schema.hard_case_fields()),
    )

    build = releases / f".build-{version}"
    _remove_stale(build)
    with atomic.atomic_dir(build, overwrite=True) as tmp:
        for folder in ("data", "dicom", "metadata"):
            (tmp / folder).mkdir()
        dicom_files = _copy_dicom(staging, tmp, tables)
        _write_metadata(staging, tmp, tables, withheld)
        if committed is not None:
            (tmp / COMMITMENTS).write_text(json.dumps(committed, indent=2) + "\n")
        shutil.copyfile(staging / "deid_report.json", tmp / "deid_report.json")

        jobs: list[_Shard] = []
        for split in schema.splits:
            members = [e for e in exams if tables.splits[e] == split]
            if members:
                jobs += _shards_of(
                    tmp, split, members, tables, dicom_files, split in withheld, schema
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

        payload = build_manifest(tmp, name=challenge, version=version)
        # the descriptors quote the content hash, which covers them: they are written
        # with a placeholder, hashed, then given the hash (manifest.seal)
        content_hash = f"sha256:{PLACEHOLDER}"
        files = {f.path: f.sha256 for f in payload.files}
        changes = compare(
            parent_tables,
            tables.withholding(withheld),
            label_fields=("label", *(f.name for f in schema.hard_case_fields())),
            parent_version=parent_version,
            parent_files={
                f.path: f.sha256 for f in parent_manifest.files if f.path not in DESCRIPTORS
            }
            if parent_manifest
            else None,
            new_files=files,
        )
        note = check_version(version, parent_version, changes, lower_bump_reason=lower_bump_reason)
        note = " ".join(n for n in (note, commitment_note) if n)
        stats = _statistics(tables, exams, schema)
        cite = bibtex(card.meta, version, date, content_hash)
        _write_descriptors(
            tmp,
            _Described(
                card=card,
                version=version,
                date=date,
                notes=notes,
                note=note,
                changes=changes,
                parent_version=parent_version,
                releases=releases,
                content_hash=content_hash,
                payload=payload,
                files=files,
                cite=cite,
                stats=stats,
                shards=shards,
                split_info=split_info,
                shape=shape,
                withheld=withheld,
                synthetic=card.meta.provenance == "synthetic",  # the card says, not the key
            ),
        )
        final = build_manifest(
            tmp, name=challenge, version=version, parent=parent_manifest, known=payload.files
        )
        final = seal(tmp, final)
        write_manifest(
            tmp,
            final,
            {
                "created_by": f"portal {__version__}",
                "deid_key_id": deid_report.profile.key_id,
            },
        )
        _check_listing(tmp, final)
        if existing is None:
            make_read_only(tmp)
    content_hash = f"sha256:{final.content_hash}"
    if existing is not None:
        _remove_stale(build)
        legacy = existing.format < 2 and existing.content_hash == payload_hash(final.files)
        if existing.content_hash == final.content_hash or legacy:
            return ReleaseSummary(
                target,
                version,
                f"sha256:{existing.content_hash}",
                len(existing.files),
                existing.total_bytes,
                {},
                {},
                already_published=True,
            )
        raise OutputExistsError(
            f"version {version} of {challenge} is already published with other content "
            f"(sha256:{existing.content_hash} there, {content_hash} now); a published "
            "version never changes.",
            hint="give the new content a new version under `releases:` in params.yaml and run "
            f"`portal release {challenge} --version <new>`; if {target} was changed by hand, "
            "restore it first (`dvc checkout`, or a copy from a mirror).",
        )
    os.replace(build, target)
    return ReleaseSummary(
        target,
        version,
        content_hash,
        len(final.files),
        final.total_bytes,
        {s: v["num_examples"] for s, v in split_info.items()},
        changes.to_dict(),
    )


FILE_MODE, DIR_MODE = 0o444, 0o555


def make_read_only(root: Path) -> None:
    """Files 0444, folders 0555, the deepest first (``root`` last)."""
    for folder, dirs, names in os.walk(root, topdown=False):
        for name in names:
            os.chmod(os.path.join(folder, name), FILE_MODE, follow_symlinks=False)
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
    os.chmod(root, DIR_MODE)


def remove_tree(root: Path) -> None:
    """Remove a folder, read-only parts included (a failed or stale build)."""
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink() or not root.is_dir():
        root.unlink()
        return
    for folder, dirs, _names in os.walk(root):
        os.chmod(folder, stat.S_IRWXU)
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(root)


def _remove_stale(build: Path) -> None:
    """What an interrupted build left: ``.build-<v>`` and its temporaries."""
    remove_tree(build)
    for stale in build.parent.glob(f".{build.name}{atomic.TMP_MARKER}*"):
        remove_tree(stale)


FICLONE = 0x40049409  # ioctl(dest, FICLONE, source): share extents, copy-on-write


def clone_file(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target`` (its own inode): a reflink where the file
    system offers one (btrfs, XFS, ...), else an in-kernel copy, else a plain copy.
    Returns how: "reflink", "copy_file_range" or "copy"."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return "reflink"
        except OSError:
            pass
        size = os.fstat(src.fileno()).st_size
        try:
            done = 0
            while done < size:
                sent = os.copy_file_range(src.fileno(), dst.fileno(), size - done)
                if sent == 0:
                    break
                done += sent
            if done == size:
                return "copy_file_range"
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        src.seek(0)
        dst.seek(0)
        dst.truncate()
        shutil.copyfileobj(src, dst, 1 << 20)
        return "copy"


def _check_listing(folder: Path, manifest: Manifest) -> None:
    """The built folder holds exactly the manifest's files, at their sizes. (Their hashes
    were just computed from these very files; `portal verify` re-hashes for downloaders.)"""
    on_disk = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", "SHA256SUMS")
    }
    listed = {f.path: f.size for f in manifest.files}
    if on_disk != listed:
        raise VerificationError(
            f"the release does not match its own manifest ({sorted(set(on_disk) ^ set(listed))}"
            "); nothing was published.",
            hint="re-run `portal release`; report this if it happens again.",
        )


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
class _Described:
    """Everything the descriptor files (cards, citations, changelog) are made from."""

    card: Card
    version: str
    date: str
    notes: str
    note: str
    changes: object
    parent_version: str | None
    releases: Path
    content_hash: str
    payload: Manifest
    files: dict[str, str]
    cite: str
    stats: dict
    shards: dict[str, list[str]]
    split_info: dict[str, dict]
    shape: tuple | None
    withheld: list[str]
    synthetic: bool


def _write_descriptors(tmp: Path, d: _Described) -> None:
    card, version, date, notes, note = d.card, d.version, d.date, d.notes, d.note
    changes, parent_version, releases = d.changes, d.parent_version, d.releases
    content_hash, payload, files, cite = d.content_hash, d.payload, d.files, d.cite
    stats, shards, split_info, shape = d.stats, d.shards, d.split_info, d.shape
    withheld, synthetic = d.withheld, d.synthetic
    meta = card.meta
    (tmp / "CITATION.cff").write_text(citation_cff(meta, version, date, content_hash))
    (tmp / "datacite.json").write_text(
        json.dumps(
            datacite(meta, version, date, content_hash, payload.total_bytes, len(payload.files)),
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    (tmp / "citation.bib").write_text(cite)
    (tmp / "croissant.json").write_text(
        json.dumps(
            croissant(card, version, date, content_hash, files, cite), indent=2, ensure_ascii=False
        )
        + "\n"
    )
    (tmp / "changes.json").write_text(json.dumps(changes.to_dict(), indent=2) + "\n")
    entry = changes.to_markdown(version, note)
    entry = entry.replace(f"## {version}\n", f"## {version} ({date})\n\n{notes.strip()}\n", 1)
    previous = ""
    if parent_version and (releases / parent_version / "CHANGELOG.md").exists():
        previous = (releases / parent_version / "CHANGELOG.md").read_text()
        previous = previous.split("\n", 2)[2] if previous.startswith("# ") else previous
    (tmp / "CHANGELOG.md").write_text(f"# Changelog of {meta.title}\n\n{entry}\n{previous}")
    import pyarrow.parquet as pq

    first_shard = next(iter(shards.values()))[0]
    (tmp / "README.md").write_text(
        _dataset_card(
            card,
            version,
            shards,
            split_info,
            shape,
            stats,
            content_hash,
            payload.total_bytes,
            notes,
            withheld,
            pq.read_schema(tmp / first_shard),
            synthetic,
        )
    )
