"""Patients, surgeries and their clinical course, for the synthetic ML-KIDCAR export.

The clinical model, in the order things happen:

1. a patient (age, sex, body size, diabetes, hypertension, kidney function, heart
   function), some of whom come back for a second operation (redo surgery);
2. a surgery (procedure, urgency, cardiopulmonary bypass and cross-clamp times, the
   lowest haematocrit on bypass, red-cell transfusion) and its EuroSCORE II;
3. the intra-operative signals (``signals.py``), from which the hypotension burden
   (minutes and area of mean arterial pressure below 65 mmHg) is measured;
4. acute kidney injury caused by what causes it clinically: hypotension burden,
   bypass time, baseline CKD, age, transfusion, emergency, diabetes, vasopressor
   dose and low output; its KDIGO stage shows in the creatinine at 24, 48 and 72 h,
   measured with the laboratory's error, and the stage the centre records carries a
   little transcription noise.

Everything is drawn from one generator seeded by the export's seed, so the same seed
gives the same cohort.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from portal.synth.identity import (
    FEMALE_FIRST,
    MALE_FIRST,
    STREETS,
    SURNAMES,
    Town,
    phone_number,
    pick,
)
from portal.synth.mlkidcar.centres import CENTRES, Centre

PROCEDURES = ("CABG", "valve", "combined", "aortic", "other")
PROCEDURE_DETAIL = {
    "CABG": ("CABG x2", "CABG x3", "CABG x4", "CABG à cœur battant"),
    "valve": (
        "remplacement valvulaire aortique",
        "plastie mitrale",
        "remplacement valvulaire mitral",
        "plastie tricuspide",
    ),
    "combined": ("RVA + pontages", "plastie mitrale + pontages", "RVA + plastie mitrale"),
    "aortic": ("Bentall", "remplacement aorte ascendante", "Tirone David", "dissection type A"),
    "other": (
        "exérèse de myxome",
        "myectomie septale",
        "endartériectomie pulmonaire",
        "fermeture de CIA",
    ),
}
URGENCIES = ("elective", "urgent", "emergency", "salvage")
SPLITS = ("train", "public_test", "private_test")
START = dt.date(2021, 1, 4)
END = dt.date(2024, 12, 20)
MAINLAND_DEPARTMENTS = tuple(f"{d:02d}" for d in range(1, 96) if d != 20)
EMAIL_DOMAINS = ("orange.fr", "free.fr", "gmail.com", "laposte.net", "wanadoo.fr", "sfr.fr")


@dataclass
class Patient:
    """A person as the hospital information system knows them, and their baseline."""

    index: int
    centre: Centre
    sex: str
    birth_date: dt.date
    family: str
    given: str
    birth_name: str
    address: str
    town: Town
    phone: str
    email: str
    nir: str
    ipp: str
    height_cm: float
    weight_kg: float
    diabetes: bool
    insulin: bool
    hypertension: bool
    creatinine_base: float  # µmol/L at the first surgery
    lvef: float
    vasoplegia: float  # latent tendency to hypotension, ~N(0, 1)
    kidney_frailty: float  # latent susceptibility of the kidney, ~N(0, 1)


@dataclass
class Surgery:
    """One operation, its identifying data and its clinical course."""

    index: int
    patient: Patient
    surgery_id: str = ""
    stay_number: str = ""
    redo: bool = False
    age: int = 0
    weight_kg: float = 0.0
    creatinine_base: float = 0.0
    egfr: float = 0.0
    ckd_stage: str = ""
    nyha: int = 1
    procedure: str = ""
    procedure_detail: str = ""
    urgency: str = "elective"
    cpb_minutes: int = 0
    cross_clamp_minutes: int = 0
    pre_minutes: int = 0
    post_minutes: int = 0
    lowest_haematocrit: float = 0.0
    rbc_units: int = 0
    euroscore: float = 0.0
    admission: dt.datetime = dt.datetime(2000, 1, 1)
    start: dt.datetime = dt.datetime(2000, 1, 1)
    end: dt.datetime = dt.datetime(2000, 1, 1)
    discharge: dt.datetime = dt.datetime(2000, 1, 1)
    room: str = ""
    surgeon: str = ""
    anaesthetist: str = ""
    split: str = "train"
    # filled from the signals, then the outcome
    hypotension_minutes: int = 0
    hypotension_area: float = 0.0
    max_norepinephrine: float = 0.0
    aki_risk: float = 0.0
    true_stage: int = 0
    creatinine_post: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sample_times: tuple[dt.datetime, ...] = field(default_factory=tuple)
    recorded_stage: int = 0
    label_noise: str = ""

    @property
    def duration_minutes(self) -> int:
        return self.pre_minutes + self.cpb_minutes + self.post_minutes


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def nir_key(body: str) -> int:
    """The NIR key: 97 minus the 13-digit number modulo 97 (Corsica: 2A -> 19, 2B -> 18)."""
    digits = body.replace("2A", "19").replace("2B", "18")
    return 97 - int(digits) % 97


def nir_number(rng: np.random.Generator, sex: str, birth: dt.date, town: Town) -> str:
    """A valid NIR: sex, birth year and month, department and commune of birth, order, key."""
    if rng.random() < 0.04:  # born abroad: department 99, a country code
        department, commune = "99", f"{int(rng.integers(101, 450)):03d}"
    else:
        department = town.postcode[:2] if rng.random() < 0.7 else pick(rng, MAINLAND_DEPARTMENTS)
        if department == "20" and birth.year >= 1976:
            department = "2B" if town.postcode >= "20200" else "2A"
        commune = f"{int(rng.integers(1, 990)):03d}"
    order = f"{int(rng.integers(1, 999)):03d}"
    body = f"{1 if sex == 'M' else 2}{birth.year % 100:02d}{birth.month:02d}"
    body += f"{department}{commune}{order}"
    return f"{body}{nir_key(body):02d}"


def egfr_ckd_epi(creatinine_umol: float, age: float, sex: str) -> float:
    """CKD-EPI 2021 (race-free) eGFR in mL/min/1.73 m²."""
    scr = creatinine_umol / 88.42
    kappa, alpha = (0.7, -0.241) if sex == "F" else (0.9, -0.302)
    value = 142 * min(scr / kappa, 1) ** alpha * max(scr / kappa, 1) ** -1.200 * 0.9938**age
    return value * (1.012 if sex == "F" else 1.0)


def ckd_stage(egfr: float) -> str:
    for bound, stage in ((90, "1"), (60, "2"), (45, "3a"), (30, "3b"), (15, "4")):
        if egfr >= bound:
            return stage
    return "5"


def euroscore_ii(s: Surgery) -> float:
    """EuroSCORE II (Nashef 2012) in %, from the factors this export knows."""
    p = s.patient
    age_term = max(s.age - 60, 0) + 1
    crcl = (140 - s.age) * s.weight_kg / (0.8136 * s.creatinine_base)
    if p.sex == "F":
        crcl *= 0.85
    x = -5.324537 + 0.0285181 * age_term
    x += 0.2196434 * (p.sex == "F")
    x += 0.8592256 if crcl <= 50 else (0.303553 if crcl <= 85 else 0.0)
    x += 1.118599 * s.redo
    x += 0.3542749 * p.insulin
    x += {1: 0.0, 2: 0.1070545, 3: 0.2958358, 4: 0.5597929}[s.nyha]
    if p.lvef <= 20:
        x += 0.9346919
    elif p.lvef <= 30:
        x += 0.8084096
    elif p.lvef <= 50:
        x += 0.3150652
    x += {"elective": 0.0, "urgent": 0.3174673, "emergency": 0.7039121, "salvage": 1.362947}[
        s.urgency
    ]
    weight = {"CABG": 0.0, "valve": 0.0062118, "other": 0.0062118, "aortic": 0.5521478}
    x += weight.get(s.procedure, 0.5521478)
    x += 0.6527205 * (s.procedure == "aortic")
    return float(100 / (1 + np.exp(-x)))


def _centre_of(rng: np.random.Generator) -> Centre:
    weights = np.array([c.weight for c in CENTRES])
    return CENTRES[int(rng.choice(len(CENTRES), p=weights / weights.sum()))]


def _ipp(rng: np.random.Generator, centre: Centre, used: set[str]) -> str:
    while True:
        digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=centre.ipp_digits))
        ipp = centre.ipp_prefix + digits[len(centre.ipp_prefix) :]
        if ipp not in used:
            used.add(ipp)
            return ipp


def _make_patient(rng: np.random.Generator, index: int, used: set[str]) -> Patient:
    centre = _centre_of(rng)
    sex = "M" if rng.random() < 0.72 else "F"
    if rng.random() < 0.012:  # the very old: rare, and identifying
        age0 = int(rng.integers(90, 95))
    else:
        age0 = int(np.clip(rng.normal(67, 11), 24, 89))
    born = START + dt.timedelta(days=int(rng.integers(0, 1400))) - dt.timedelta(days=365.25 * age0)
    born = born - dt.timedelta(days=int(rng.integers(0, 365)))
    town = centre.towns[int(rng.integers(len(centre.towns)))]
    given = pick(rng, MALE_FIRST if sex == "M" else FEMALE_FIRST)
    family = pick(rng, SURNAMES)
    birth_name = pick(rng, SURNAMES) if sex == "F" and rng.random() < 0.6 else family
    address = f"{int(rng.integers(1, 180))} {pick(rng, STREETS)}"
    email = ""
    if rng.random() < 0.35:
        local = ascii_fold(f"{given}.{family}").lower().replace(" ", "").replace("'", "")
        email = f"{local}{int(rng.integers(1, 99)) if rng.random() < 0.5 else ''}@"
        email += pick(rng, EMAIL_DOMAINS)
    height = rng.normal(174, 7) if sex == "M" else rng.normal(161, 6)
    bmi = float(np.clip(rng.normal(27.5, 4.5), 16, 48))
    diabetes = rng.random() < 0.18 + 0.25 * (bmi > 30)
    hypertension = rng.random() < 0.45 + 0.006 * (age0 - 60) + 0.15 * diabetes
    base = (84 if sex == "M" else 68) * np.exp(rng.normal(0, 0.18))
    base *= 1 + 0.006 * max(age0 - 60, 0) + 0.12 * diabetes + 0.08 * hypertension
    if rng.random() < 0.12:  # established chronic kidney disease (patients on dialysis
        base *= float(rng.uniform(1.4, 2.6))  # before surgery are not in the challenge)
    return Patient(
        index=index,
        centre=centre,
        sex=sex,
        birth_date=born,
        family=family,
        given=given,
        birth_name=birth_name,
        address=address,
        town=town,
        phone=phone_number(rng, town.phone_prefix),
        email=email,
        nir=nir_number(rng, sex, born, town),
        ipp=_ipp(rng, centre, used),
        height_cm=float(round(height, 0)),
        weight_kg=float(round(bmi * (height / 100) ** 2, 1)),
        diabetes=bool(diabetes),
        insulin=bool(diabetes and rng.random() < 0.4),
        hypertension=bool(hypertension),
        creatinine_base=float(base),
        lvef=float(np.clip(rng.normal(57, 10), 15, 75)),
        vasoplegia=float(rng.normal()),
        kidney_frailty=float(rng.normal()),
    )


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _procedure(rng: np.random.Generator, centre: Centre, redo: bool) -> tuple[str, str, str]:
    aortic = centre.aortic_share + (0.05 if redo else 0.0)
    other = centre.other_share
    weights = np.array([0.48, 0.30, 0.12, aortic, other])
    procedure = PROCEDURES[int(rng.choice(5, p=weights / weights.sum()))]
    detail = pick(rng, PROCEDURE_DETAIL[procedure])
    if detail == "dissection type A":
        urgency = "emergency" if rng.random() < 0.85 else "salvage"
    else:
        urgency = URGENCIES[int(rng.choice(4, p=[0.76, 0.19, 0.045, 0.005]))]
    return procedure, detail, urgency


def _times(rng: np.random.Generator, s: Surgery) -> None:
    mean = {"CABG": 85, "valve": 100, "combined": 150, "aortic": 170, "other": 110}
    off_pump = s.procedure_detail == "CABG à cœur battant"
    cpb = 0 if off_pump else int(np.clip(rng.normal(mean[s.procedure], 28), 35, 330))
    if s.urgency in ("emergency", "salvage") and cpb:
        cpb = int(cpb * rng.uniform(1.05, 1.4))
    s.cpb_minutes = cpb
    s.cross_clamp_minutes = 0 if off_pump else int(cpb * rng.uniform(0.55, 0.82))
    s.pre_minutes = int(rng.integers(45, 100))
    s.post_minutes = int(rng.integers(40, 95)) + (120 if off_pump else 0)
    total = s.duration_minutes
    if total < 120:
        s.post_minutes += 120 - total
    elif total > 480:
        s.post_minutes = max(30, s.post_minutes - (total - 480))
        if s.duration_minutes > 480:
            s.cpb_minutes -= s.duration_minutes - 480
            s.cross_clamp_minutes = min(s.cross_clamp_minutes, int(s.cpb_minutes * 0.8))


def _schedule(rng: np.random.Generator, s: Surgery, day: dt.date) -> None:
    if s.urgency == "elective":
        start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(
            minutes=int(rng.integers(0, 300))
        )
        admission = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(14))
        admission += dt.timedelta(minutes=int(rng.integers(0, 300)))
    elif s.urgency == "urgent":
        start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(
            minutes=int(rng.integers(0, 480))
        )
        admission = start - dt.timedelta(
            days=int(rng.integers(2, 9)), hours=int(rng.integers(0, 12))
        )
    else:
        start = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(
            minutes=int(rng.integers(0, 1440))
        )
        admission = start - dt.timedelta(minutes=int(rng.integers(60, 360)))
    s.admission = admission
    s.start = start
    s.end = start + dt.timedelta(minutes=s.duration_minutes)


def build_surgeries(count: int, seed: int) -> list[Surgery]:
    """``count`` surgeries of their patients (some operated twice), without outcome yet."""
    rng = np.random.default_rng([seed, 19])
    used: set[str] = set()
    surgeries: list[Surgery] = []
    patients = 0
    while len(surgeries) < count:
        patient = _make_patient(rng, patients, used)
        patients += 1
        span = (END - START).days
        first = START + dt.timedelta(days=int(rng.integers(0, span)))
        days = [first]
        if rng.random() < 0.065 and len(surgeries) + 1 < count:
            second = first + dt.timedelta(days=int(rng.integers(90, 1200)))
            if second < END:
                days.append(second)
        creatinine = patient.creatinine_base
        for number, day in enumerate(days):
            s = Surgery(index=len(surgeries), patient=patient, redo=number > 0)
            s.age = _age(patient.birth_date, day)
            s.weight_kg = round(patient.weight_kg + float(rng.normal(0, 1.5)) * number, 1)
            s.creatinine_base = round(creatinine * float(np.exp(rng.normal(0, 0.05))), 0)
            s.egfr = round(egfr_ckd_epi(s.creatinine_base, s.age, patient.sex), 0)
            s.ckd_stage = ckd_stage(s.egfr)
            nyha_x = (60 - patient.lvef) / 12 + rng.normal(0, 0.9) + 0.4 * number
            s.nyha = int(np.clip(np.round(1.6 + nyha_x), 1, 4))
            s.procedure, s.procedure_detail, s.urgency = _procedure(rng, patient.centre, s.redo)
            _times(rng, s)
            _schedule(rng, s, day)
            s.room = pick(rng, patient.centre.rooms)
            s.surgeon = pick(rng, patient.centre.surgeons)
            s.anaesthetist = pick(rng, patient.centre.anaesthetists)
            bsa = np.sqrt(patient.height_cm * s.weight_kg / 3600)
            hct = 27.5 - 2.2 * (patient.sex == "F") - 2.5 * (1.9 - bsa) - 0.012 * s.cpb_minutes
            s.lowest_haematocrit = round(float(np.clip(hct + rng.normal(0, 2.3), 15, 36)), 1)
            rate = np.exp(
                -1.3 + 0.22 * (24 - s.lowest_haematocrit) + 0.006 * s.cpb_minutes + 0.5 * s.redo
            )
            s.rbc_units = int(min(rng.poisson(rate), 14))
            s.euroscore = round(euroscore_ii(s), 2)
            surgeries.append(s)
            if len(surgeries) == count:
                break
            creatinine *= float(np.exp(rng.normal(0.08, 0.1)))
    _assign_ids(rng, surgeries)
    return surgeries


def _assign_ids(rng: np.random.Generator, surgeries: list[Surgery]) -> None:
    """Platform IDs in random order (an ID tells nothing), stay numbers, splits by patient."""
    order = rng.permutation(len(surgeries))
    for rank, index in enumerate(order):
        surgeries[int(index)].surgery_id = f"KDC-S{rank + 1:05d}"
    for s in surgeries:
        centre = s.patient.centre
        s.stay_number = f"{centre.stay_prefix}{s.start.year % 100:02d}"
        s.stay_number += "".join(str(int(d)) for d in rng.integers(0, 10, size=7))
        s.discharge = s.end + dt.timedelta(
            days=int(rng.integers(5, 12)), hours=int(rng.integers(2, 9))
        )
    patients = sorted({s.patient.index for s in surgeries})
    chosen = rng.permutation(len(patients))
    cut = (int(0.6 * len(patients)), int(0.8 * len(patients)))
    split_of = {}
    for rank, index in enumerate(chosen):
        split_of[patients[int(index)]] = SPLITS[(rank >= cut[0]) + (rank >= cut[1])]
    for s in surgeries:
        s.split = split_of[s.patient.index]


KDIGO_RISE_UMOL = 26.5  # 0.3 mg/dL within 48 h
KDIGO_STAGE3_UMOL = 353.6  # 4.0 mg/dL
KDIGO_STAGE3_RISE_UMOL = 44.2  # with an acute rise of at least 0.5 mg/dL


def kdigo_stage(baseline: float, values: tuple[float, float, float]) -> int:
    """KDIGO creatinine criteria on the 24, 48 and 72 h values (0: no AKI)."""
    peak = max(values)
    ratio = peak / baseline
    if ratio >= 3.0 or (peak >= KDIGO_STAGE3_UMOL and peak - baseline >= KDIGO_STAGE3_RISE_UMOL):
        return 3
    if ratio >= 2.0:
        return 2
    if ratio >= 1.5 or max(values[:2]) - baseline >= KDIGO_RISE_UMOL:
        return 1
    return 0


def aki_logit(s: Surgery) -> float:
    """The linear predictor of AKI: the clinical causes, without the intercept."""
    p = s.patient
    stage_weight = {"1": 0.0, "2": 0.2, "3a": 0.9, "3b": 1.3, "4": 1.7, "5": 1.9}
    x = 0.045 * (s.age - 65)
    x += 0.008 * (s.cpb_minutes - 95)
    x += stage_weight[s.ckd_stage]
    x += 0.03 * min(s.hypotension_minutes, 90) + 0.003 * s.hypotension_area
    x += 0.17 * min(s.rbc_units, 8)
    x += 0.45 * p.diabetes + 0.2 * p.hypertension
    x += {"elective": 0.0, "urgent": 0.25, "emergency": 0.8, "salvage": 1.3}[s.urgency]
    x += 1.8 * min(s.max_norepinephrine, 0.6)
    x += 0.03 * max(40 - p.lvef, 0)
    x += 0.5 * p.kidney_frailty
    return float(x)


def assign_outcomes(surgeries: list[Surgery], seed: int, prevalence: float = 0.25) -> None:
    """AKI from its causes; creatinine at 24/48/72 h that shows its stage; recorded label."""
    rng = np.random.default_rng([seed, 23])
    logits = np.array([aki_logit(s) for s in surgeries])
    low, high = -15.0, 15.0
    for _ in range(60):  # the intercept that gives the intended prevalence on this cohort
        mid = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(logits + mid)))) < prevalence:
            low = mid
        else:
            high = mid
    risks = 1 / (1 + np.exp(-(logits + (low + high) / 2)))
    for s, risk in zip(surgeries, risks, strict=True):
        s.aki_risk = float(risk)
        if rng.random() < risk:
            severity = rng.random() + 0.3 * (risk - 0.5)
            s.true_stage = 1 if severity < 0.72 else (2 if severity < 0.96 else 3)
        base = s.creatinine_base
        if s.true_stage == 0:
            peak_ratio = float(rng.uniform(0.85, min(1.22, 1 + 20 / base)))
        elif s.true_stage == 1:
            peak_ratio = float(rng.uniform(1.52, 1.95))
        elif s.true_stage == 2:
            peak_ratio = float(rng.uniform(2.05, 2.9))
        else:
            peak_ratio = float(rng.uniform(3.05, 4.2))
        peak_at = int(rng.choice(3, p=[0.3, 0.45, 0.25]))
        values, clean = [], []
        for t in range(3):
            distance = abs(t - peak_at)
            ratio = peak_ratio if distance == 0 else 1 + (peak_ratio - 1) * (0.55 / distance)
            clean.append(base * ratio)
            measured = base * ratio * float(np.exp(rng.normal(0, 0.035)))  # lab error
            values.append(round(measured, 0))
        # the true stage is what KDIGO says of the true values (a high baseline reaches
        # stage 3 by the absolute criterion); the measured values may say otherwise
        s.true_stage = kdigo_stage(base, (clean[0], clean[1], clean[2]))
        s.creatinine_post = (values[0], values[1], values[2])
        s.sample_times = tuple(
            dt.datetime.combine((s.end + dt.timedelta(hours=h)).date(), dt.time(6))
            + dt.timedelta(minutes=int(rng.integers(0, 90)))
            for h in (24, 48, 72)
        )
        measured_stage = kdigo_stage(base, s.creatinine_post)
        s.recorded_stage = measured_stage
        if measured_stage != s.true_stage:
            s.label_noise = "measurement"
        if rng.random() < 0.02:  # the centre's data manager recorded the next stage
            neighbours = [x for x in (measured_stage - 1, measured_stage + 1) if 0 <= x <= 3]
            s.recorded_stage = int(rng.choice(neighbours))
            s.label_noise = "transcription"
        if s.recorded_stage >= 2:
            s.discharge += dt.timedelta(days=int(rng.integers(2, 12)))
