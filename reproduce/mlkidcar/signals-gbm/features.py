"""Static features plus engineered intra-operative signal features, per surgery.

Signal features are computed on the monitored values after removing what monitors get
wrong: MAP above 200 mmHg (a flushed arterial line) or below 20 mmHg (zeroing, sampling)
is treated as missing, as is a heart rate above 220/min and a temperature below 20 °C.
"Off bypass" is every minute with a pump flow of 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data import age_years, split_rows, table_path

CKD = {"1": 1, "2": 2, "3a": 3, "3b": 4, "4": 5, "5": 6}
URGENCY = {"elective": 0, "urgent": 1, "non-elective": 1.5, "emergency": 2, "salvage": 3}
PROCEDURES = ("CABG", "valve", "combined", "aortic", "other", "complex")
STATIC = (
    "height_cm",
    "weight_kg",
    "bmi",
    "baseline_creatinine_umol_l",
    "baseline_egfr",
    "lvef_pct",
    "euroscore_ii_pct",
    "cpb_minutes",
    "cross_clamp_minutes",
    "rbc_units",
    "lowest_haematocrit_pct",
)
SIGNAL_FEATURES = (
    "minutes_map_below_65_off_bypass",
    "area_map_below_65_off_bypass",
    "minutes_map_below_55_off_bypass",
    "minutes_map_below_50_on_bypass",
    "map_mean_off_bypass",
    "map_p10_off_bypass",
    "norepinephrine_max",
    "norepinephrine_minutes",
    "norepinephrine_area",
    "hr_mean_after_bypass",
    "spo2_minutes_below_90",
    "temperature_min",
    "recorded_minutes",
    "missing_map_share",
)


def _clean(values: np.ndarray, low: float, high: float) -> np.ndarray:
    values = values.astype(np.float64)
    values[(values < low) | (values > high)] = np.nan
    return values


def signal_features(channels: dict[str, np.ndarray]) -> list[float]:
    map_ = _clean(channels["map_mmhg"], 20, 200)
    hr = _clean(channels["hr_bpm"], 20, 220)
    spo2 = _clean(channels["spo2_pct"], 50, 100)
    temp = _clean(channels["temp_c"], 20, 42)
    norepi = np.nan_to_num(channels["norepinephrine_ug_kg_min"].astype(np.float64))
    flow = np.nan_to_num(channels["cpb_flow_l_min"].astype(np.float64))
    off = flow == 0
    on = ~off
    after = np.zeros_like(off)
    if on.any():
        after[np.flatnonzero(on)[-1] + 1 :] = True
    with np.errstate(invalid="ignore"):
        below65 = np.nan_to_num(np.clip(65 - map_, 0, None)) * off
        feats = [
            float(np.sum((map_ < 65) & off)),
            float(below65.sum()),
            float(np.sum((map_ < 55) & off)),
            float(np.sum((map_ < 50) & on)),
            float(np.nanmean(map_[off])) if np.isfinite(map_[off]).any() else np.nan,
            float(np.nanpercentile(map_[off], 10)) if np.isfinite(map_[off]).any() else np.nan,
            float(norepi.max(initial=0)),
            float(np.sum(norepi > 0)),
            float(norepi.sum()),
            float(np.nanmean(hr[after])) if np.isfinite(hr[after]).any() else np.nan,
            float(np.sum(spo2 < 90)),
            float(np.nanmin(temp)) if np.isfinite(temp).any() else np.nan,
            float(len(map_)),
            float(np.mean(~np.isfinite(map_))) if len(map_) else 1.0,
        ]
    return feats


def load_signals(release: Path, ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
    table = pq.read_table(table_path(release, "signals"))
    table = table.filter(pc.is_in(table.column("surgery_id"), value_set=pa.array(ids)))
    table = table.sort_by([("surgery_id", "ascending"), ("minute", "ascending")])
    surgery = table.column("surgery_id").to_numpy(zero_copy_only=False)
    columns = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    out = {}
    if len(surgery) == 0:
        return out
    starts = np.flatnonzero(np.r_[True, surgery[1:] != surgery[:-1]])
    ends = np.r_[starts[1:], len(surgery)]
    for start, end in zip(starts, ends, strict=True):
        out[str(surgery[start])] = {name: values[start:end] for name, values in columns.items()}
    return out


def feature_table(release: Path, split: str) -> tuple[list[str], list[int | None], np.ndarray, list[str]]:
    rows, labels = split_rows(release, split)
    ids = [r["surgery_id"] for r in rows]
    signals = load_signals(release, ids)
    names = [
        *STATIC,
        "age",
        "female",
        "diabetes",
        "hypertension",
        "redo",
        "ckd_stage",
        "nyha_class",
        "urgency",
        *(f"procedure_{p}" for p in PROCEDURES),
        *SIGNAL_FEATURES,
    ]
    matrix = []
    for row in rows:
        static = [np.nan if row.get(c) is None else float(row[c]) for c in STATIC]
        static += [
            age_years(row.get("age")),
            1.0 if row.get("sex") == "F" else (np.nan if row.get("sex") == "*" else 0.0),
            float(bool(row.get("diabetes"))),
            float(bool(row.get("hypertension"))),
            float(bool(row.get("redo"))),
            float(CKD.get(str(row.get("ckd_stage")), np.nan)),
            float(row["nyha_class"]) if str(row.get("nyha_class")).isdigit() else np.nan,
            float(URGENCY.get(row.get("urgency"), np.nan)),
            *(1.0 if row.get("procedure") == p else 0.0 for p in PROCEDURES),
        ]
        channels = signals.get(row["surgery_id"])
        static += signal_features(channels) if channels else [np.nan] * len(SIGNAL_FEATURES)
        matrix.append(static)
    return ids, labels, np.array(matrix, dtype=np.float64), names
