"""Write a complete synthetic DaT-Park challenge export, following the export contract.

Layout (docs/architecture.md, "The export contract")::

    <out>/exams/<exam_id>/NM_<IPP>_<YYYYMMDD>.dcm   one NM multi-frame volume per exam
    <out>/labels.csv      exam_id, patient_id, label, reader_confidence, reader_agreement, gray_zone
    <out>/splits.csv      exam_id, split (train | public_test | private_test)
    <out>/clinical.csv    exam_id, patient_id, age, sex, weight, centre, vendor SBR report
    <out>/export.json     what this export is and how it was made
    <out>/SHA256SUMS      sha256sum -c list of every other file
    <out>/_synth/truth.csv  the generator's ground truth; never part of a release
    <out>/_synth/written.json  what the generator wrote: its arguments, every file's sha256

The same ``(exams, seed, shape)`` always gives byte-identical files, whatever
the number of worker processes: each exam's noise comes from its own seed.

``--overwrite`` replaces only an export this generator wrote and nobody changed since
(``_synth/written.json`` says what it wrote): an export the organiser corrected, or one
from a challenge platform, is never regenerated over.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portal import __version__
from portal.core.atomic import atomic_dir
from portal.core.workers import process_pool
from portal.errors import ConfigError, OutputExistsError
from portal.synth.cohort import LABELS, Exam, build_cohort
from portal.synth.nmdicom import build_dataset, file_name
from portal.synth.phantom import Geometry, render

DEFAULT_SHAPE = (64, 128, 128)  # slices, rows, columns
CHALLENGES = {"datpark": "DaT-Park: normal vs pathological DaT-SPECT"}
EXPORT_DATE = "2025-03-31"  # when the challenge platform closed and exported
MARKER = "_synth/written.json"  # what `portal synth` wrote, file by file
SUMS = "SHA256SUMS"

LABEL_COLUMNS = (
    "exam_id",
    "patient_id",
    "label",
    "reader_confidence",
    "reader_agreement",
    "gray_zone",
)
SPLIT_COLUMNS = ("exam_id", "split")
CLINICAL_COLUMNS = (
    "exam_id",
    "patient_id",
    "age",
    "sex",
    "weight_kg",
    "centre",
    "injected_dose_mbq",
    "uptake_minutes",
)


@dataclass(frozen=True)
class ExportSummary:
    """What ``synthesize`` wrote: for the CLI to print and for benchmarks to time."""

    out: Path
    exams: int
    patients: int
    bytes_written: int
    label_counts: dict[str, int]
    split_counts: dict[str, int]
    gray_zone: int


# Worker state, set once per process by _init_worker (fork-free: spawn-safe).
_WORK: dict[str, object] = {}


def _init_worker(exams: list[Exam], shape: tuple[int, int, int], seed: int, root: str) -> None:
    _WORK.update(exams=exams, shape=shape, seed=seed, root=root)
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _render_one(index: int) -> tuple[int, int, str, str]:
    """Render and write one exam; return (index, size, sha256, relative path)."""
    exams: list[Exam] = _WORK["exams"]  # type: ignore[assignment]
    exam = exams[index]
    shape: tuple[int, int, int] = _WORK["shape"]  # type: ignore[assignment]
    rng = np.random.default_rng(np.random.SeedSequence([int(_WORK["seed"]), 0x5EED, index]))
    geometry = Geometry.for_centre(exam.centre, shape)
    volume = render(geometry, exam.centre, exam.pose, exam.binding, rng)
    ds = build_dataset(exam, volume, geometry)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    relative = f"exams/{exam.exam_id}/{file_name(exam)}"
    path = Path(str(_WORK["root"])) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return index, len(data), hashlib.sha256(data).hexdigest(), relative


def _csv_bytes(columns: tuple[str, ...], rows: list[dict[str, object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _tables(exams: list[Exam]) -> dict[str, bytes]:
    ordered = sorted(exams, key=lambda e: e.exam_id)
    labels = [
        {
            "exam_id": e.exam_id,
            "patient_id": e.patient.subject_id,
            "label": e.label,
            "reader_confidence": e.reader_confidence,
            "reader_agreement": e.reader_votes.count(e.label),
            "gray_zone": str(e.gray_zone).lower(),
        }
        for e in ordered
    ]
    splits = [{"exam_id": e.exam_id, "split": e.split} for e in ordered]
    sbr_columns = tuple(ordered[0].measured) if ordered else ()
    clinical = [
        {
            "exam_id": e.exam_id,
            "patient_id": e.patient.subject_id,
            "age": e.age,
            "sex": e.patient.person.sex,
            "weight_kg": e.weight_kg,
            "centre": e.centre.institution,
            "injected_dose_mbq": e.dose_mbq,
            "uptake_minutes": int((e.acquired - e.injected).total_seconds() // 60),
            **e.measured,
        }
        for e in ordered
    ]
    truth_columns = (
        "exam_id",
        "truth",
        "label_flipped",
        "pattern",
        "severity",
        "true_sbr_caudate_right",
        "true_sbr_caudate_left",
        "true_sbr_putamen_anterior_right",
        "true_sbr_putamen_anterior_left",
        "true_sbr_putamen_posterior_right",
        "true_sbr_putamen_posterior_left",
        "focal_defect",
        "reader_votes",
        "head_scale",
        "shift_mm",
        "rotation_deg",
        "motion_blur_mm",
        "count_factor",
    )
    truth = [
        {
            "exam_id": e.exam_id,
            "truth": e.truth,
            "label_flipped": str(e.label_flipped).lower(),
            "pattern": e.pattern,
            "severity": e.severity,
            "true_sbr_caudate_right": e.binding.caudate[0],
            "true_sbr_caudate_left": e.binding.caudate[1],
            "true_sbr_putamen_anterior_right": e.binding.putamen_anterior[0],
            "true_sbr_putamen_anterior_left": e.binding.putamen_anterior[1],
            "true_sbr_putamen_posterior_right": e.binding.putamen_posterior[0],
            "true_sbr_putamen_posterior_left": e.binding.putamen_posterior[1],
            "focal_defect": ""
            if e.binding.focal_defect is None
            else "/".join(f"{v:.3f}" for v in e.binding.focal_defect),
            "reader_votes": "/".join(e.reader_votes),
            "head_scale": f"{e.pose.scale:.4f}",
            "shift_mm": "/".join(f"{v:.2f}" for v in e.pose.shift_mm),
            "rotation_deg": "/".join(f"{v:.2f}" for v in e.pose.rotation_deg),
            "motion_blur_mm": f"{e.pose.extra_blur_mm:.2f}",
            "count_factor": f"{e.pose.count_factor:.4f}",
        }
        for e in ordered
    ]
    return {
        "labels.csv": _csv_bytes(LABEL_COLUMNS, labels),
        "splits.csv": _csv_bytes(SPLIT_COLUMNS, splits),
        "clinical.csv": _csv_bytes(CLINICAL_COLUMNS + sbr_columns, clinical),
        "_synth/truth.csv": _csv_bytes(truth_columns, truth),
    }


def synthesize(
    challenge: str,
    out: Path,
    *,
    exams: int,
    seed: int,
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write a synthetic export of ``challenge`` to ``out``, atomically.

    ``progress`` is called with the number of exams finished since its last
    call. On any failure ``out`` is left as it was.
    """
    if challenge not in CHALLENGES:
        raise ConfigError(
            f"no synthetic generator for challenge {challenge!r}.",
            hint=f"choose one of: {', '.join(sorted(CHALLENGES))}.",
        )
    if exams < 1:
        raise ConfigError(
            f"--exams {exams}: at least one exam is needed.", hint="pass --exams 200."
        )
    cohort = build_cohort(exams, seed)
    workers = max(1, min(workers or os.cpu_count() or 1, exams))
    out = Path(out)
    if overwrite and out.is_dir() and any(out.iterdir()):
        check_ours(out, challenge)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        sums: dict[str, str] = {}
        total = 0
        args = (cohort, shape, seed, str(tmp))
        if workers == 1:
            _init_worker(*args)
            results = map(_render_one, range(len(cohort)))
            total = _collect(results, sums, progress)
        else:
            with process_pool(workers, initializer=_init_worker, initargs=args) as pool:
                results = pool.map(_render_one, range(len(cohort)), chunksize=4)
                total = _collect(results, sums, progress)
        for name, data in _tables(cohort).items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sums[name] = hashlib.sha256(data).hexdigest()
            total += len(data)
        labels = {label: sum(e.label == label for e in cohort) for label in LABELS}
        splits = {
            s: sum(e.split == s for e in cohort) for s in ("train", "public_test", "private_test")
        }
        description = {
            "challenge": challenge,
            "title": CHALLENGES[challenge],
            "exported": EXPORT_DATE,
            "generator": {
                "name": "portal synth",
                "version": __version__,
                "seed": seed,
                "exams": exams,
                "shape": {"rows": shape[1], "columns": shape[2], "slices": shape[0]},
                "note": "Synthetic data: no real patient. _synth/ holds the generator's "
                "ground truth and is never released.",
            },
            "counts": {
                "exams": len(cohort),
                "patients": len({e.patient.index for e in cohort}),
                "labels": labels,
                "splits": splits,
                "gray_zone": sum(e.gray_zone for e in cohort),
            },
        }
        data = (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode()
        (tmp / "export.json").write_bytes(data)
        sums["export.json"] = hashlib.sha256(data).hexdigest()
        marker = _marker_bytes(description["generator"], sums)  # type: ignore[arg-type]
        (tmp / MARKER).write_bytes(marker)
        (tmp / SUMS).write_text(_listing(sums, marker))
    return ExportSummary(
        out=out,
        exams=len(cohort),
        patients=description["counts"]["patients"],  # type: ignore[index]
        bytes_written=total,
        label_counts=labels,
        split_counts=splits,
        gray_zone=description["counts"]["gray_zone"],  # type: ignore[index]
    )


def _marker_bytes(generator: dict, sums: dict[str, str]) -> bytes:
    record = {"generator": generator, "files": dict(sorted(sums.items()))}
    return (json.dumps(record, indent=1) + "\n").encode()


def _listing(sums: dict[str, str], marker: bytes) -> str:
    """SHA256SUMS: every file but itself, the marker included."""
    every = {**sums, MARKER: hashlib.sha256(marker).hexdigest()}
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(every.items()))


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _difference(out: Path) -> str | None:
    """Why ``out`` is not exactly what ``portal synth`` wrote there; None if it is."""
    on_disk = {}
    for path in sorted(out.rglob("*")):
        relative = path.relative_to(out).as_posix()
        if path.is_symlink():
            return f"{relative} is a symbolic link"
        if path.is_file():
            on_disk[relative] = path
    marker = out / MARKER
    if marker.is_file():
        try:
            written: dict[str, str] = json.loads(marker.read_bytes())["files"]
        except (ValueError, KeyError, TypeError):
            return f"{MARKER} is not the record `portal synth` writes"
        expected = _listing(written, marker.read_bytes())
        if SUMS not in on_disk or on_disk[SUMS].read_text(errors="replace") != expected:
            return f"{SUMS} differs from what it wrote"
        return _compare(on_disk, written, {MARKER, SUMS})
    try:
        description = json.loads((out / "export.json").read_text())
        legacy = description["generator"]["name"] == "portal synth"
    except (OSError, ValueError, KeyError, TypeError):
        legacy = False
    if not legacy or SUMS not in on_disk:
        return f"no {MARKER} (the record of what `portal synth` wrote)"
    # written before the marker existed: its SHA256SUMS must still hold for every file
    listed = {}
    for line in on_disk[SUMS].read_text(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    return _compare(on_disk, listed, {SUMS})


def _compare(on_disk: dict[str, Path], written: dict[str, str], own: set[str]) -> str | None:
    added = sorted(set(on_disk) - set(written) - own)
    if added:
        return f"{added[0]} was added" + (f" (and {len(added) - 1} more)" if added[1:] else "")
    missing = sorted(set(written) - set(on_disk))
    if missing:
        return f"{missing[0]} was removed" + (
            f" (and {len(missing) - 1} more)" if missing[1:] else ""
        )
    for name in sorted(written):
        if _sha256(on_disk[name]) != written[name]:
            return f"{name} differs from what it wrote"
    return None


def check_ours(out: Path, challenge: str) -> None:
    """Refuse to replace ``out`` unless it is exactly an export ``portal synth`` wrote."""
    reason = _difference(Path(out))
    if reason is None:
        return
    raise OutputExistsError(
        f"{out} holds an export `portal synth` did not write ({reason}); it is not replaced.",
        hint=f"to keep it as the pipeline's export, record it with `dvc commit synth@{challenge}` "
        "(`dvc repro` then leaves it alone), or pass `portal synth` another --out; "
        f"to discard it and regenerate, delete {out} first.",
    )


def _collect(results, sums: dict[str, str], progress: Callable[[int], None] | None) -> int:
    total = 0
    for _, size, digest, relative in results:
        sums[relative] = digest
        total += size
        if progress:
            progress(1)
    return total
