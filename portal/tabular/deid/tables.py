"""De-identify a tabular export: tables and minute-level signals.

What happens to each kind of column (the roles of ``portal.tabular.contract``):

- ``key`` (surgery_id, IPP): replaced by a keyed pseudonym, HMAC-SHA256 with the
  challenge's secret key (``portal.deid.keys``), so the same person gets the same pseudonym
  in every table and release, and nobody without the key can link back;
- ``centre``: replaced by a keyed code (``centre-a``...), since a centre tells where
  its patients live;
- ``direct`` (NIR, names, birth date, address, postcode, city, phone, e-mail, stay
  number, operating room, surgeon, anaesthetist, the note's author): removed;
- ``datetime``: shifted by one whole number of days per patient, drawn from the key,
  so every interval of a patient (admission to surgery, surgery to each sample,
  between two operations) is kept; signals keep only their minute offset from the
  start of surgery;
- ``text`` (the operative notes) and the monitors' header lines: removed. We chose
  removal over scrubbing: nothing in them is needed for the task, and a scrubber's
  misses (names it does not know, a phone split by a line break) would be published;
- ``rare`` (procedure detail): removed, its category is kept in ``procedure``;
- ``age-derived`` (eGFR, EuroSCORE II, from which the exact age could be solved back):
  rounded (eGFR to 5 mL/min/1.73 m², EuroSCORE II to 1 %);
- ages at or above the top code are one group; then the quasi-identifiers are
  generalised and the rest suppressed until k and ℓ hold (``risk``).

Nothing is written to ``out`` but the released tables and the report; the linkage
(input ID to pseudonym, and each patient's shift) goes to ``private``, never released.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from portal.deid.keys import key_id
from portal.errors import InputError
from portal.tabular.contract import (
    PATIENTS,
    SIGNAL_CHANNELS,
    SURGERIES,
    TabularExport,
    read_export,
)
from portal.tabular.deid.policy import Policy
from portal.tabular.deid.risk import anonymise

SCHEMA_VERSION = 1
RELEASED_SURGERY_COLUMNS = (
    "surgery_id",
    "patient_id",
    "centre",
    "admission_at",
    "surgery_start",
    "surgery_end",
    "discharge_at",
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
    "urgency",
    "cpb_minutes",
    "cross_clamp_minutes",
    "transfusion",
    "rbc_units",
    "lowest_haematocrit_pct",
)
AGE_DERIVED_ROUNDING = {"baseline_egfr": 5.0, "euroscore_ii_pct": 1.0}
PSEUDONYM_ALPHABET = "bcdfghjkmnpqrstvwxz"  # 19**12, about 2e15 pseudonyms
DATETIMES = ("admission_at", "surgery_start", "surgery_end", "discharge_at")


class Keyed:
    """Keyed pseudonyms and shifts: HMAC-SHA256 of a purpose and a value."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def digest(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()

    def pseudonym(self, prefix: str, purpose: str, value: str) -> str:
        """``prefix`` + 12 consonants: no digit (so no number can be read into a
        pseudonym, nor taken for a phone or an ID) and no vowel (so no word or name)."""
        number = int(self.digest(purpose, value), 16)
        letters = []
        for _ in range(12):
            number, index = divmod(number, len(PSEUDONYM_ALPHABET))
            letters.append(PSEUDONYM_ALPHABET[index])
        return f"{prefix}-{''.join(letters)}"

    def shift_days(self, ipp: str, low: int, high: int) -> int:
        number = int(self.digest("date shift", ipp)[:12], 16)
        magnitude = low + number % (high - low + 1)
        return magnitude if (number >> 47) & 1 else -magnitude


@dataclass(frozen=True)
class DeidSummary:
    out: Path
    report: dict


def _write(table: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> None:
    arrow = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    arrow = arrow.replace_schema_metadata(None)  # no pandas index metadata in the release
    pq.write_table(arrow, path, compression="zstd", use_dictionary=True, write_statistics=True)


def _round_to(values: pd.Series, step: float) -> pd.Series:
    return (np.round(values.astype(float) / step) * step).round(2)


def deidentify(
    export_dir: Path,
    out: Path,
    private: Path,
    *,
    key: bytes,
    policy: Policy | None = None,
    export: TabularExport | None = None,
) -> DeidSummary:
    """De-identify the export at ``export_dir`` into ``out`` (released) and ``private``."""
    policy = policy or Policy()
    export = export or read_export(Path(export_dir))
    keyed = Keyed(key)
    out, private = Path(out), Path(private)
    out.mkdir(parents=True, exist_ok=True)
    private.mkdir(parents=True, exist_ok=True)

    surgeries = pd.DataFrame(export.tables["surgeries.csv"])
    outcomes = pd.DataFrame(export.tables["outcomes.csv"]).set_index("surgery_id")
    splits = pd.DataFrame(export.tables["splits.csv"]).set_index("surgery_id")
    labs = pd.DataFrame(export.tables["labs.csv"])
    if policy.sensitive not in outcomes.columns:
        raise InputError(
            f"the data card's sensitive column {policy.sensitive!r} is not in outcomes.csv.",
            path="outcomes.csv",
            hint="declare a label column of outcomes.csv as deidentification.tabular.sensitive.",
        )

    surgery_ids = {
        sid: keyed.pseudonym("s", "surgery", sid) for sid in surgeries["surgery_id"].tolist()
    }
    patient_ids = {ipp: keyed.pseudonym("p", "patient", ipp) for ipp in surgeries["ipp"].unique()}
    for mapping, what in ((surgery_ids, "surgery"), (patient_ids, "patient")):
        if len(set(mapping.values())) != len(mapping):
            raise InputError(f"two {what} IDs gave the same pseudonym.", hint="change the key.")
    centres = sorted(surgeries["centre"].unique(), key=lambda c: keyed.digest("centre", c))
    centre_codes = {c: f"centre-{chr(ord('a') + i)}" for i, c in enumerate(centres)}
    low, high = policy.date_shift_days
    shifts = {ipp: keyed.shift_days(ipp, low, high) for ipp in patient_ids}

    # quasi-identifiers, generalised until k and l hold
    sensitive = surgeries["surgery_id"].map(outcomes[policy.sensitive]).astype(str)
    risk = anonymise(
        surgeries[list(policy.quasi_identifiers)],
        surgeries["ipp"].map(patient_ids),
        sensitive,
        policy,
    )
    if int(risk.suppressed.sum()) > int(policy.max_suppression * len(surgeries)) or risk.k == 0:
        raise InputError(
            f"k={policy.k} and l={policy.l} cannot be reached on the quasi-identifiers "
            f"{', '.join(policy.quasi_identifiers)} within the suppression budget "
            f"({policy.max_suppression:.0%}): {int(risk.suppressed.sum())} of "
            f"{len(surgeries)} surgeries would be suppressed.",
            path="surgeries.csv",
            hint="lower k or l in the data card, declare fewer quasi-identifiers, or "
            "raise max_suppression, with the data-protection officer's agreement.",
        )
    keep = ~risk.suppressed.to_numpy()
    released = surgeries[keep].copy()
    for q in policy.quasi_identifiers:
        released[q] = risk.generalised.loc[released.index, q].astype(str)
    if "age" not in policy.quasi_identifiers:
        top = policy.age_top_code
        released["age"] = released["age"].map(lambda a: f"{top}+" if a >= top else str(a))
    if "centre" not in policy.quasi_identifiers or risk.levels.get("centre", 0) == 0:
        released["centre"] = released["centre"].map(lambda c: centre_codes.get(c, c))
    delta = released["ipp"].map(lambda ipp: dt.timedelta(days=shifts[ipp]))
    for column in DATETIMES:
        released[column] = pd.to_datetime(released[column] + delta)
    for column, step in AGE_DERIVED_ROUNDING.items():
        released[column] = _round_to(released[column], step)
    released["surgery_id"] = released["surgery_id"].map(surgery_ids)
    released["patient_id"] = released["ipp"].map(patient_ids)
    kept_ids = set(surgeries["surgery_id"][keep])
    order = released.sort_values("surgery_id").index
    surgery_table = released.loc[order, list(RELEASED_SURGERY_COLUMNS)]
    _write(surgery_table, out / "surgeries.parquet")

    label_rows = pd.DataFrame(
        {
            "surgery_id": [surgery_ids[s] for s in sorted(kept_ids)],
            "aki_stage": [int(outcomes.loc[s, "aki_stage"]) for s in sorted(kept_ids)],
            "aki": [bool(outcomes.loc[s, "aki"]) for s in sorted(kept_ids)],
        }
    ).sort_values("surgery_id")
    _write(label_rows, out / "labels.parquet")
    split_rows = pd.DataFrame(
        {
            "surgery_id": [surgery_ids[s] for s in sorted(kept_ids)],
            "split": [splits.loc[s, "split"] for s in sorted(kept_ids)],
        }
    ).sort_values("surgery_id")
    _write(split_rows, out / "splits.parquet")

    ipp_of = dict(zip(surgeries["surgery_id"], surgeries["ipp"], strict=True))
    end_of = dict(zip(surgeries["surgery_id"], surgeries["surgery_end"], strict=True))
    labs = labs[labs["surgery_id"].isin(kept_ids)].copy()
    lab_delta = labs["surgery_id"].map(lambda s: dt.timedelta(days=shifts[ipp_of[s]]))
    hours = (labs["sampled_at"] - labs["surgery_id"].map(end_of)).map(
        lambda d: round(d.total_seconds() / 3600, 1)
    )
    lab_table = pd.DataFrame(
        {
            "surgery_id": labs["surgery_id"].map(surgery_ids),
            "sampled_at": pd.to_datetime(labs["sampled_at"] + lab_delta),
            "hours_after_surgery_end": hours.astype(float),
            "creatinine_umol_l": labs["creatinine_umol_l"].astype(float),
        }
    ).sort_values(["surgery_id", "sampled_at"])
    _write(lab_table, out / "labs.parquet")

    start_of = dict(zip(surgeries["surgery_id"], surgeries["surgery_start"], strict=True))
    pieces = []
    signal_files = 0
    for sid in sorted(kept_ids, key=surgery_ids.get):
        start = np.datetime64(start_of[sid], "m")
        for signal in export.signals.get(sid, []):
            signal_files += 1
            minutes = (signal.times - start).astype(np.int64).astype(np.int32)
            piece = {"surgery_id": surgery_ids[sid], "minute": minutes}
            piece |= {c: signal.values[c].astype(np.float32) for c in SIGNAL_CHANNELS}
            pieces.append(pd.DataFrame(piece))
    columns = ["surgery_id", "minute", *SIGNAL_CHANNELS]
    signals = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=columns)
    schema = pa.schema(
        [("surgery_id", pa.string()), ("minute", pa.int32())]
        + [(c, pa.float32()) for c in SIGNAL_CHANNELS]
    )
    _write(signals[columns], out / "signals.parquet", schema)

    linkage = pd.DataFrame(
        {
            "input_surgery_id": surgeries["surgery_id"],
            "surgery_id": surgeries["surgery_id"].map(surgery_ids),
            "ipp": surgeries["ipp"],
            "patient_id": surgeries["ipp"].map(patient_ids),
            "shift_days": surgeries["ipp"].map(shifts),
            "released": keep,
        }
    )
    linkage.to_csv(private / "linkage.csv", index=False)

    ages = surgeries["age"]
    report = {
        "schema_version": SCHEMA_VERSION,
        "modality": "tabular",
        "key_id": key_id(key),
        "input": {
            "surgeries": len(surgeries),
            "patients": len(patient_ids),
            "signal_files": sum(len(v) for v in export.signals.values()),
        },
        "output": {
            "surgeries": len(surgery_table),
            "patients": int(surgery_table["patient_id"].nunique()),
            "signal_files_merged": signal_files,
            "signal_rows": len(signals),
            "files": sorted({p.name for p in out.iterdir() if p.is_file()} | {"deid_report.json"}),
        },
        "removed": {
            "patients.csv": [c for c, col in PATIENTS.columns.items() if col.role == "direct"],
            "surgeries.csv": [
                c for c, col in SURGERIES.columns.items() if col.role in ("direct", "rare")
            ],
            "notes.csv": "the whole file: free text removed, not scrubbed",
            "signals": "the monitors' header lines and the file names (IPP, date); "
            "samples kept as minute offsets from the start of surgery",
        },
        "pseudonymised": {
            "surgery_id": "HMAC-SHA256 with the challenge key, 's-' + 12 consonants",
            "ipp": "patient_id, HMAC-SHA256 with the challenge key, 'p-' + 12 consonants",
            "centre": "centre-a ... in the key's order",
        },
        "dates": {
            "shifted": [*DATETIMES, "labs.sampled_at"],
            "shift": f"one whole number of days per patient, {low} to {high} days "
            "earlier or later, from the key; every interval of a patient is kept",
        },
        "ages": {
            "top_code": policy.age_top_code,
            "surgeries_at_or_above": int((ages >= policy.age_top_code).sum()),
        },
        "age_derived": {c: f"rounded to {s:g}" for c, s in AGE_DERIVED_ROUNDING.items()},
        "risk": {
            "quasi_identifiers": list(policy.quasi_identifiers),
            "sensitive": policy.sensitive,
            "k_required": policy.k,
            "l_required": policy.l,
            "k": risk.k,
            "k_rows": risk.k_rows,
            "l": risk.l,
            "equivalence_classes": risk.classes,
            "generalisation": risk.descriptions,
            "levels": risk.levels,
            "steps": risk.steps,
            "suppressed_surgeries": int(risk.suppressed.sum()),
            "suppressed_patients": int(surgeries["ipp"][risk.suppressed.to_numpy()].nunique()),
            "max_suppression": policy.max_suppression,
            "counted_over": "distinct patients per class (k), distinct sensitive values (l)",
        },
    }
    (out / "deid_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return DeidSummary(out=out, report=report)
