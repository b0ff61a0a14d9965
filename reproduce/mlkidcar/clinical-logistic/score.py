"""The AKICS score (Palomba et al., Kidney Int 2007): acute kidney injury after cardiac surgery.

Points, from what the release holds:
    age > 65 years 2.3; pre-operative creatinine > 1.2 mg/dL 1.8; pre-operative capillary
    glucose > 140 mg/dL 1.2 (not released: diabetes stands for it); heart failure 3.2
    (NYHA III-IV or LVEF < 35 % stand for it); combined valve and coronary surgery 3.7;
    cardiopulmonary bypass > 120 min 1.8.
Not released, counted 0: post-operative low cardiac output (2.5) and central venous
pressure > 14 cmH2O (1.7).
A generalised value counts what it certainly means: an age band counts by its middle,
"complex" (combined, aortic or other) counts half the combined-surgery points.
"""

from __future__ import annotations

from data import age_years

UMOL_PER_MG_DL = 88.42


def akics_score(row: dict) -> float:
    points = 0.0
    points += 2.3 if age_years(row.get("age")) > 65 else 0.0
    creatinine = (row.get("baseline_creatinine_umol_l") or 0) / UMOL_PER_MG_DL
    points += 1.8 if creatinine > 1.2 else 0.0
    points += 1.2 if row.get("diabetes") else 0.0
    lvef = row.get("lvef_pct")
    failing = str(row.get("nyha_class")) in ("3", "4") or (lvef is not None and lvef < 35)
    points += 3.2 if failing else 0.0
    procedure = row.get("procedure")
    points += 3.7 if procedure == "combined" else (1.85 if procedure == "complex" else 0.0)
    points += 1.8 if (row.get("cpb_minutes") or 0) > 120 else 0.0
    return points
