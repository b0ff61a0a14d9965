"""Write a synthetic ML-KIDCAR export, following the tabular export contract.

Layout (docs/tabular-export.md)::

    <out>/README.md       says that this is synthetic data, and what the files are
    <out>/patients.csv    the hospital's identity of each patient (IPP, NIR, names, address...)
    <out>/surgeries.csv   one row per surgery: identifying data and the static clinical table
    <out>/labs.csv        creatinine samples: baseline, then 24, 48 and 72 h after surgery
    <out>/outcomes.csv    the KDIGO AKI stage the centre recorded, and AKI (stage >= 1)
    <out>/notes.csv       the French operative note of each surgery (free text)
    <out>/splits.csv      train / public_test / private_test, at patient level
    <out>/signals/<surgery_id>/MON_<IPP>_<YYYYMMDD>T<HHMM>.csv   minute-level monitor export
    <out>/export.json     what this export is and how it was made
    <out>/SHA256SUMS      sha256sum -c list of every other file
    <out>/_synth/truth.csv     the generator's ground truth; never part of a release
    <out>/_synth/written.json  what the generator wrote, file by file

The same ``(surgeries, seed)`` always gives byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from portal import __version__
from portal.core.atomic import atomic_dir
from portal.errors import ConfigError
from portal.synth.export import MARKER, SUMS, check_ours
from portal.synth.mlkidcar.cohort import (
    SPLITS,
    Surgery,
    assign_outcomes,
    build_surgeries,
)
from portal.synth.mlkidcar.notes import operative_note
from portal.synth.mlkidcar.signals import CHANNELS, DECIMALS, Recording, simulate

CHALLENGE = "mlkidcar"
TITLE = "ML-KIDCAR: acute kidney injury after cardiac surgery"
EXPORT_DATE = "2025-06-30"

PATIENT_COLUMNS = (
    "ipp",
    "centre",
    "nir",
    "family_name",
    "birth_name",
    "given_name",
    "sex",
    "birth_date",
    "address",
    "postcode",
    "city",
    "phone",
    "email",
)
SURGERY_COLUMNS = (
    "surgery_id",
    "ipp",
    "stay_number",
    "centre",
    "admission_at",
    "surgery_start",
    "surgery_end",
    "discharge_at",
    "operating_room",
    "surgeon",
    "anaesthetist",
    "age",
    "sex",
    "height_cm",
    "weight_kg",
    "bmi",
    "diabetes",
    "hypertension",
    "ckd_stage",
    "baseline_creatinine_umol_l",
    "baseline_egfr",
    "lvef_pct",
    "nyha_class",
    "euroscore_ii_pct",
    "redo",
    "procedure",
    "procedure_detail",
    "urgency",
    "cpb_minutes",
    "cross_clamp_minutes",
    "transfusion",
    "rbc_units",
    "lowest_haematocrit_pct",
)
LAB_COLUMNS = ("surgery_id", "sampled_at", "creatinine_umol_l")
OUTCOME_COLUMNS = ("surgery_id", "aki_stage", "aki")
NOTE_COLUMNS = ("surgery_id", "written_at", "author", "text")
SPLIT_COLUMNS = ("surgery_id", "split")
SIGNAL_COLUMNS = ("timestamp", *CHANNELS)
TRUTH_COLUMNS = (
    "surgery_id",
    "patient_index",
    "true_stage",
    "recorded_stage",
    "label_noise",
    "aki_risk",
    "hypotension_minutes",
    "hypotension_area",
    "max_norepinephrine",
    "vasoplegia",
    "kidney_frailty",
)
STAMP = "%Y-%m-%d %H:%M"

NOTICE = """# SYNTHETIC DATA - ML-KIDCAR export

Every file in this folder was made by `portal synth mlkidcar` (seed {seed},
{surgeries} surgeries). **No real patient, hospital stay or person is in it.** The
names, IPP, NIR, addresses, phone numbers, e-mail addresses, dates and staff names are
invented to look like what hospitals send, so that the portal's de-identification
is tested on data as hard as a real export; any resemblance to a real person is chance.
The hospitals named are real places; the patients and staff attributed to them are not.

The clinical values follow a published-style model of acute kidney injury after
cardiac surgery (the portal's docs/tabular-export.md) and are not for clinical use.
`_synth/` holds the generator's ground truth and is never released.

Files: patients.csv, surgeries.csv, labs.csv, outcomes.csv, notes.csv, splits.csv,
signals/<surgery_id>/MON_<IPP>_<start>.csv, export.json, SHA256SUMS
(the contract: docs/tabular-export.md).
"""


@dataclass(frozen=True)
class KidcarSummary:
    """What ``synthesize`` wrote: for the CLI to print and for tests to check."""

    out: Path
    surgeries: int
    patients: int
    centres: dict[str, int]
    aki_stages: dict[int, int]
    splits: dict[str, int]
    signal_files: int
    bytes_written: int


def _csv(columns: tuple[str, ...], rows: list[tuple]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _flag(value: bool) -> int:
    return 1 if value else 0


def _surgery_row(s: Surgery) -> tuple:
    p = s.patient
    bmi = s.weight_kg / (p.height_cm / 100) ** 2
    return (
        s.surgery_id,
        p.ipp,
        s.stay_number,
        p.centre.key,
        s.admission.strftime(STAMP),
        s.start.strftime(STAMP),
        s.end.strftime(STAMP),
        s.discharge.strftime(STAMP),
        s.room,
        s.surgeon,
        s.anaesthetist,
        s.age,
        p.sex,
        f"{p.height_cm:.0f}",
        f"{s.weight_kg:.1f}",
        f"{bmi:.1f}",
        _flag(p.diabetes),
        _flag(p.hypertension),
        s.ckd_stage,
        f"{s.creatinine_base:.0f}",
        f"{s.egfr:.0f}",
        f"{p.lvef:.0f}",
        s.nyha,
        f"{s.euroscore:.2f}",
        _flag(s.redo),
        s.procedure,
        s.procedure_detail,
        s.urgency,
        s.cpb_minutes,
        s.cross_clamp_minutes,
        _flag(s.rbc_units > 0),
        s.rbc_units,
        f"{s.lowest_haematocrit:.1f}",
    )


def _signal_files(s: Surgery, rec: Recording) -> dict[str, bytes]:
    """One CSV per monitor recording, named as the monitor names it (IPP and start time)."""
    p = s.patient
    start64 = np.datetime64(s.start, "m")
    stamps = np.char.replace(
        np.datetime_as_string(start64 + rec.minutes.astype("timedelta64[m]"), unit="m"), "T", " "
    )
    columns = [stamps]
    for column, decimals in enumerate(DECIMALS):
        values = rec.values[:, column]
        text = np.char.mod(f"%.{decimals}f", np.nan_to_num(values))
        columns.append(np.where(np.isnan(values), "", text))
    rows = columns[0]
    for text in columns[1:]:
        rows = np.char.add(np.char.add(rows, ","), text)
    files = {}
    for start, stop in rec.segments:
        first = s.start + _minutes(int(rec.minutes[start]))
        name = f"signals/{s.surgery_id}/MON_{p.ipp}_{first:%Y%m%dT%H%M}.csv"
        lines = [
            f"# {p.centre.monitor} | {s.room} | {p.family.upper()} {p.given} | IPP {p.ipp} "
            f"| {first:%d/%m/%Y %H:%M}",
            ",".join(SIGNAL_COLUMNS),
            *rows[start:stop].tolist(),
        ]
        files[name] = ("\n".join(lines) + "\n").encode()
    return files


def _minutes(n: int) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def build_files(surgeries: int, seed: int) -> tuple[dict[str, bytes], list[Surgery], int]:
    """Every file of the export, by relative path; the cohort; the number of signal files."""
    cohort = build_surgeries(surgeries, seed)
    recordings = [simulate(s, seed) for s in cohort]
    assign_outcomes(cohort, seed)
    note_rng = np.random.default_rng([seed, 31])
    files: dict[str, bytes] = {}
    signal_files = 0
    for s, rec in zip(cohort, recordings, strict=True):
        made = _signal_files(s, rec)
        signal_files += len(made)
        files.update(made)
    by_id = sorted(cohort, key=lambda s: s.surgery_id)
    patients = {}
    for s in sorted(cohort, key=lambda s: s.patient.ipp):
        p = s.patient
        patients[p.ipp] = (
            p.ipp,
            p.centre.key,
            p.nir,
            p.family.upper(),
            p.birth_name.upper(),
            p.given,
            p.sex,
            p.birth_date.isoformat(),
            p.address,
            p.town.postcode,
            p.town.name,
            p.phone,
            p.email,
        )
    files["patients.csv"] = _csv(PATIENT_COLUMNS, list(patients.values()))
    files["surgeries.csv"] = _csv(SURGERY_COLUMNS, [_surgery_row(s) for s in by_id])
    labs = []
    for s in by_id:
        baseline_at = s.admission + _minutes(int(note_rng.integers(30, 240)))
        if baseline_at >= s.start:
            baseline_at = s.start - _minutes(20)
        labs.append((s.surgery_id, baseline_at.strftime(STAMP), f"{s.creatinine_base:.0f}"))
        for when, value in zip(s.sample_times, s.creatinine_post, strict=True):
            labs.append((s.surgery_id, when.strftime(STAMP), f"{value:.0f}"))
    files["labs.csv"] = _csv(LAB_COLUMNS, labs)
    files["outcomes.csv"] = _csv(
        OUTCOME_COLUMNS,
        [(s.surgery_id, s.recorded_stage, _flag(s.recorded_stage >= 1)) for s in by_id],
    )
    notes = [
        (
            s.surgery_id,
            (s.end + _minutes(int(note_rng.integers(10, 600)))).strftime(STAMP),
            s.surgeon,
            operative_note(note_rng, s),
        )
        for s in by_id
    ]
    files["notes.csv"] = _csv(NOTE_COLUMNS, notes)
    files["splits.csv"] = _csv(SPLIT_COLUMNS, [(s.surgery_id, s.split) for s in by_id])
    files["_synth/truth.csv"] = _csv(
        TRUTH_COLUMNS,
        [
            (
                s.surgery_id,
                s.patient.index,
                s.true_stage,
                s.recorded_stage,
                s.label_noise,
                f"{s.aki_risk:.4f}",
                s.hypotension_minutes,
                f"{s.hypotension_area:.1f}",
                f"{s.max_norepinephrine:.3f}",
                f"{s.patient.vasoplegia:.3f}",
                f"{s.patient.kidney_frailty:.3f}",
            )
            for s in by_id
        ],
    )
    files["README.md"] = NOTICE.format(seed=seed, surgeries=surgeries).encode()
    return files, cohort, signal_files


def synthesize(
    out: Path,
    *,
    surgeries: int = 2000,
    seed: int = 0,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> KidcarSummary:
    """Write a synthetic ML-KIDCAR export to ``out``, atomically; ``out`` is left as it was
    on any failure, and an export that `portal synth` did not write is never replaced."""
    if surgeries < 10:
        raise ConfigError(
            f"--exams {surgeries}: at least 10 surgeries are needed for ML-KIDCAR.",
            hint="pass --exams 2000 (the number of surgeries).",
        )
    out = Path(out)
    if overwrite and out.is_dir() and any(out.iterdir()):
        check_ours(out, CHALLENGE)
    files, cohort, signal_files = build_files(surgeries, seed)
    if progress:
        progress(len(cohort))
    centres: dict[str, int] = {}
    for s in cohort:
        centres[s.patient.centre.key] = centres.get(s.patient.centre.key, 0) + 1
    stages = {k: sum(s.recorded_stage == k for s in cohort) for k in range(4)}
    splits = {name: sum(s.split == name for s in cohort) for name in SPLITS}
    patients = len({s.patient.index for s in cohort})
    description = {
        "challenge": CHALLENGE,
        "title": TITLE,
        "exported": EXPORT_DATE,
        "contract": "tabular-export 1",
        "generator": {
            "name": "portal synth",
            "version": __version__,
            "seed": seed,
            "surgeries": surgeries,
            "note": "Synthetic data: no real patient. _synth/ holds the generator's "
            "ground truth and is never released.",
        },
        "counts": {
            "surgeries": len(cohort),
            "patients": patients,
            "centres": dict(sorted(centres.items())),
            "aki_stages": {str(k): v for k, v in stages.items()},
            "aki": sum(s.recorded_stage >= 1 for s in cohort),
            "splits": splits,
            "signal_files": signal_files,
        },
    }
    files["export.json"] = (json.dumps(description, indent=2, ensure_ascii=False) + "\n").encode()
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    marker = (
        json.dumps(
            {"generator": description["generator"], "files": dict(sorted(sums.items()))}, indent=1
        )
        + "\n"
    ).encode()
    every = {**sums, MARKER: hashlib.sha256(marker).hexdigest()}
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(every.items()))
    total = 0
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name in sorted(files):
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[name])
            total += len(files[name])
        (tmp / MARKER).write_bytes(marker)
        (tmp / SUMS).write_text(listing)
    return KidcarSummary(
        out=out,
        surgeries=len(cohort),
        patients=patients,
        centres=dict(sorted(centres.items())),
        aki_stages=stages,
        splits=splits,
        signal_files=signal_files,
        bytes_written=total,
    )
