"""Who was scanned, when, what they had, and what the readers said.

The cohort is drawn before any image is made, so the expensive rendering step
receives a complete, frozen description of each exam and can run in any order
on any number of processes without changing a byte of the output.

Clinical model (orders of magnitude from the DaT-SPECT literature):

- About two thirds of referred patients have a presynaptic dopaminergic
  deficit (Parkinson's disease and other degenerative parkinsonisms); the rest
  have essential tremor, drug-induced or functional symptoms and a normal scan.
- Degeneration starts in the posterior putamen and moves forward, usually
  asymmetrically; the caudate is relatively spared until late ("comma" becomes
  "period").
- Binding declines with age by roughly 5 to 7 % per decade, a little more in
  men than in women.
- About a fifth of exams sit in a clinical gray zone: early unilateral loss,
  atypical caudate-predominant loss, a focal (vascular) putaminal defect, a
  low-normal elderly scan, or a low-count or moving acquisition. Readers
  disagree or report low confidence there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import numpy as np

from portal.synth.centres import CENTRES, Centre
from portal.synth.identity import Person, make_person, physician_name, pick

#: The labels of the challenge, in the order used for scores.
LABELS = ("normal", "pathological")
SPLITS = ("train", "public_test", "private_test")

#: Patterns drawn for the first exam of a patient: (name, probability).
PATHOLOGICAL_PATTERNS = (
    ("typical", 0.78),
    ("early_unilateral", 0.14),
    ("caudate_predominant", 0.04),
    ("vascular_focal", 0.04),
)
NORMAL_PATTERNS = (
    ("normal", 0.80),
    ("elderly_low_normal", 0.10),
    ("vascular_focal", 0.04),
    ("low_counts", 0.06),
)
GRAY_ZONE_PATTERNS = frozenset(
    {
        "early_unilateral",
        "caudate_predominant",
        "vascular_focal",
        "elderly_low_normal",
        "low_counts",
    }
)
READER_THRESHOLD = 0.25  # visual-abnormality score above which a reader calls "pathological"
TRANSCRIPTION_ERROR_RATE = 0.015  # clear cases whose recorded label is wrong

FIRST_EXAM = dt.date(2016, 1, 4)
LAST_EXAM = dt.date(2024, 12, 20)


@dataclass(frozen=True)
class Binding:
    """True specific binding ratios, index 0 the patient's right, 1 the left."""

    caudate: tuple[float, float]
    putamen_anterior: tuple[float, float]
    putamen_posterior: tuple[float, float]
    focal_defect: tuple[int, float, float] | None = None  # (side, position 0..1, depth 0..1)

    def putamen(self, side: int) -> float:
        mean = (self.putamen_anterior[side] + self.putamen_posterior[side]) / 2
        if self.focal_defect and self.focal_defect[0] == side:
            mean *= 1 - 0.35 * self.focal_defect[2]
        return mean


@dataclass(frozen=True)
class Pose:
    """Where the head lies in the field of view, and how well it stayed still."""

    scale: float
    shift_mm: tuple[float, float, float]  # x (to the left), y (to the back), z (up)
    rotation_deg: tuple[float, float, float]  # about x (nodding), y (tilt), z (turn)
    extra_blur_mm: float
    count_factor: float


@dataclass
class Exam:
    """One DaT-SPECT exam: what the hospital recorded and what was really there."""

    index: int
    exam_id: str
    patient: Patient
    centre: Centre
    acquired: dt.datetime
    injected: dt.datetime
    dose_mbq: float
    age: int
    weight_kg: int
    height_m: float
    pattern: str
    severity: float
    truth: str
    label: str
    label_flipped: bool
    gray_zone: bool
    reader_votes: tuple[str, str, str]
    reader_confidence: int
    binding: Binding
    measured: dict[str, float]
    pose: Pose
    accession: str
    study_id: str
    referring: str
    performing: str
    operator: str
    reading: str
    series_number: int
    texts: dict[str, str]
    split: str = ""

    @property
    def seed_key(self) -> bytes:
        """Stable bytes naming this exam, for seeds and UIDs."""
        return f"{self.exam_id}|{self.patient.hospital_id}|{self.acquired.isoformat()}".encode()


@dataclass
class Patient:
    index: int
    subject_id: str  # the challenge platform's pseudonymous ID
    hospital_id: str  # the hospital's IPP: identifying
    centre: Centre
    person: Person
    pathological: bool
    exams: list[Exam] = field(default_factory=list)


def _choice(rng: np.random.Generator, options: tuple[tuple[str, float], ...]) -> str:
    names = [name for name, _ in options]
    probs = np.array([p for _, p in options])
    return names[int(rng.choice(len(names), p=probs / probs.sum()))]


def _random_date(rng: np.random.Generator, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(rng.integers(0, (end - start).days + 1)))


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _normal_binding(rng: np.random.Generator, age: float, sex: str) -> tuple[float, float]:
    """Healthy caudate and putamen SBR for this age and sex, with individual variation."""
    decline = 1 - (0.0065 if sex == "M" else 0.0055) * (age - 60)
    individual = rng.normal(1.0, 0.08)
    sex_factor = 1.04 if sex == "F" else 1.0
    base = decline * individual * sex_factor
    return 4.3 * base * rng.normal(1, 0.03), 4.0 * base * rng.normal(1, 0.03)


def _binding_for(
    rng: np.random.Generator, pattern: str, severity: float, age: int, sex: str
) -> tuple[Binding, float]:
    """The true binding of an exam, and the visual-abnormality score readers perceive."""
    caudate, putamen = _normal_binding(rng, age, sex)
    worse = int(rng.integers(2))  # the more affected side
    side_ratio = rng.uniform(0.55, 0.95)
    sev = [0.0, 0.0]
    caudate_loss = [0.0, 0.0]
    focal = None
    evidence = 0.0
    if pattern == "typical":
        sev[worse], sev[1 - worse] = severity, severity * side_ratio
        evidence = severity
    elif pattern == "early_unilateral":
        sev[worse], sev[1 - worse] = severity, severity * rng.uniform(0.0, 0.4)
        evidence = severity
    elif pattern == "caudate_predominant":
        sev[worse], sev[1 - worse] = severity, severity * side_ratio
        loss = rng.uniform(0.35, 0.6)
        caudate_loss = [loss, loss * rng.uniform(0.7, 1.0)]
        evidence = 0.5 * severity + 0.35 * loss
    elif pattern == "vascular_focal":
        focal = (worse, float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.5, 0.85)))
        sev[worse] = severity
        evidence = 0.12 + 0.2 * focal[2] + 0.3 * severity
    elif pattern == "elderly_low_normal":
        caudate, putamen = caudate * 0.85, putamen * 0.83
        sev[worse] = rng.uniform(0.0, 0.1)
        evidence = float(rng.normal(0.18, 0.04))
    elif pattern == "low_counts":
        sev[worse], sev[1 - worse] = severity, severity * side_ratio
        evidence = severity + float(rng.normal(0, 0.1))
    else:  # normal
        evidence = float(rng.normal(0.02, 0.04))

    def side(i: int) -> tuple[float, float, float]:
        c = caudate * (1 - 0.3 * sev[i]) * (1 - caudate_loss[i]) * rng.normal(1, 0.02)
        anterior = putamen * (1 - 0.55 * sev[i]) * rng.normal(1, 0.02)
        posterior = putamen * max(0.05, 1 - 1.0 * sev[i]) * rng.normal(1, 0.02)
        return c, anterior, posterior

    right, left = side(0), side(1)
    binding = Binding(
        caudate=(round(right[0], 4), round(left[0], 4)),
        putamen_anterior=(round(right[1], 4), round(left[1], 4)),
        putamen_posterior=(round(right[2], 4), round(left[2], 4)),
        focal_defect=focal,
    )
    return binding, evidence


def _severity(rng: np.random.Generator, pattern: str, pathological: bool) -> float:
    if not pathological and pattern != "vascular_focal":
        return 0.0
    return {
        "typical": rng.uniform(0.42, 0.9),
        "early_unilateral": rng.uniform(0.18, 0.38),
        "caudate_predominant": rng.uniform(0.1, 0.3),
        "vascular_focal": rng.uniform(0.0, 0.25) if pathological else 0.0,
        "low_counts": rng.uniform(0.2, 0.6),
    }.get(pattern, 0.0)


def _readers(
    rng: np.random.Generator, evidence: float, gray: bool
) -> tuple[tuple[str, str, str], int]:
    """Three independent visual reads: their calls and the median confidence (1..5)."""
    spread = 0.1 if gray else 0.05
    calls, confidences = [], []
    for _ in range(3):
        seen = evidence + rng.normal(0, spread)
        calls.append(LABELS[int(seen > READER_THRESHOLD)])
        margin = abs(seen - READER_THRESHOLD)
        confidences.append(1 + sum(margin > m for m in (0.03, 0.07, 0.13, 0.2)))
    return (calls[0], calls[1], calls[2]), int(np.median(confidences))


def measured_sbr(rng: np.random.Generator, binding: Binding, centre: Centre) -> dict[str, float]:
    """What a vendor quantification tool reports: partial-volume losses plus noise."""
    recovery = 1 / (1 + (centre.fwhm_mm / 14.0) ** 2)
    if centre.attenuation == "none":
        recovery *= 0.88
    elif centre.attenuation == "Chang":
        recovery *= 0.96

    def measure(value: float) -> float:
        noisy = value * recovery * rng.normal(1, 0.06) + rng.normal(0, 0.04)
        return round(max(noisy, 0.0), 2)

    out: dict[str, float] = {}
    for i, side in enumerate(("right", "left")):
        out[f"sbr_caudate_{side}"] = measure(binding.caudate[i])
        out[f"sbr_putamen_anterior_{side}"] = measure(binding.putamen_anterior[i])
        out[f"sbr_putamen_posterior_{side}"] = measure(binding.putamen_posterior[i])
        put = round(
            (out[f"sbr_putamen_anterior_{side}"] + out[f"sbr_putamen_posterior_{side}"]) / 2, 2
        )
        if binding.focal_defect and binding.focal_defect[0] == i:
            put = round(put * (1 - 0.35 * binding.focal_defect[2]), 2)
        out[f"sbr_putamen_{side}"] = put
        out[f"sbr_striatum_{side}"] = round((out[f"sbr_caudate_{side}"] + put) / 2, 2)
    for side in ("right", "left"):
        caud = out[f"sbr_caudate_{side}"]
        out[f"putamen_caudate_ratio_{side}"] = (
            round(out[f"sbr_putamen_{side}"] / caud, 2) if caud else 0.0
        )
    pr, pl = out["sbr_putamen_right"], out["sbr_putamen_left"]
    out["putamen_asymmetry_pct"] = round(200 * abs(pr - pl) / (pr + pl), 1) if pr + pl else 0.0
    return out


def _pose(rng: np.random.Generator, pattern: str) -> Pose:
    moving = pattern == "low_counts" and rng.random() < 0.5
    return Pose(
        scale=float(rng.normal(1.0, 0.05)),
        shift_mm=tuple(float(v) for v in rng.normal(0, [4.0, 5.0, 4.0])),  # type: ignore[arg-type]
        rotation_deg=tuple(float(v) for v in rng.normal(0, [6.0, 3.0, 3.0])),  # type: ignore[arg-type]
        extra_blur_mm=float(rng.uniform(3, 6)) if moving else 0.0,
        count_factor=float(rng.lognormal(0, 0.18) * (0.35 if pattern == "low_counts" else 1.0)),
    )


def _texts(
    rng: np.random.Generator,
    patient: Patient,
    exam_day: dt.date,
    referring: str,
    performing: str,
    follow_up: bool,
) -> dict[str, str]:
    """Free-text fields as technologists fill them: full of names and dates."""
    ref_family = referring.split("^")[0]
    perf_family = performing.split("^")[0]
    person = patient.person
    side = pick(rng, ("droit", "gauche"))
    onset = exam_day.year - int(rng.integers(1, 6))
    study = pick(
        rng,
        (
            "TEMP CEREBRALE DATSCAN",
            f"DaTSCAN {exam_day:%d/%m/%Y} Dr {ref_family}",
            f"SCINTI DAT {ref_family}",
            "Tomoscintigraphie cérébrale au 123I-ioflupane",
        ),
    )
    protocol = pick(rng, (f"DATSCAN_Dr_{perf_family}", "DATSCAN TOMO", f"DAT {perf_family} 120p"))
    comments = pick(
        rng,
        (
            f"{person.display_name} né(e) le {person.birth_date:%d/%m/%Y}",
            f"Contrôle {'à 2 ans ' if follow_up else ''}demandé par Dr {ref_family}",
            f"Injection {exam_day:%d/%m/%Y} - patient {person.family.upper()} agité",
            "",
        ),
    )
    history = pick(
        rng,
        (
            f"Tremblement de repos du membre supérieur {side} depuis {onset}.",
            f"Syndrome parkinsonien {side} depuis {onset}, adressé par Dr {ref_family}.",
            f"Tremblement d'attitude, ATCD familiaux. Suivi Dr {ref_family} ({person.phone}).",
            f"Bilan syndrome extrapyramidal. Patient domicilié {person.address}.",
        ),
    )
    return {
        "study": study,
        "protocol": protocol,
        "comments": comments,
        "history": history,
        "series": pick(rng, ("DaTSCAN TOMO AC", "SPECT CERVEAU OSEM", "DAT RECON", "Brain SPECT")),
    }


def build_cohort(n_exams: int, seed: int) -> list[Exam]:
    """Draw ``n_exams`` exams from patients of all centres, with follow-ups and splits.

    Deterministic: the same ``(n_exams, seed)`` always gives the same cohort.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA7]))
    weights = np.array([c.weight for c in CENTRES])
    weights /= weights.sum()
    staff = {
        c.key: {
            "nuclear": [physician_name(rng) for _ in range(4)],
            "referring": [physician_name(rng) for _ in range(12)],
            "operators": [physician_name(rng).removesuffix("^^Dr") for _ in range(3)],
        }
        for c in CENTRES
    }
    patients: list[Patient] = []
    exams: list[Exam] = []
    used_ids: set[str] = set()
    while len(exams) < n_exams:
        centre = CENTRES[int(rng.choice(len(CENTRES), p=weights))]
        pathological = bool(rng.random() < 0.70)
        sex = "M" if rng.random() < (0.6 if pathological else 0.5) else "F"
        first_day = _random_date(rng, FIRST_EXAM, LAST_EXAM - dt.timedelta(days=400))
        mean_age = 68 if pathological else 63
        age0 = int(np.clip(rng.normal(mean_age, 9.5), 35, 91))
        birth = first_day - dt.timedelta(days=int(age0 * 365.25 + rng.integers(0, 365)))
        person = make_person(rng, sex, birth, pick(rng, centre.towns))
        while True:
            hospital_id = f"{centre.ipp_prefix}{int(rng.integers(10**7, 10**8))}"
            if hospital_id not in used_ids:
                used_ids.add(hospital_id)
                break
        patient = Patient(
            index=len(patients),
            subject_id="",
            hospital_id=hospital_id,
            centre=centre,
            person=person,
            pathological=pathological,
        )
        patients.append(patient)
        n_visits = 1 + int(rng.random() < 0.16) + int(rng.random() < 0.05)
        pattern = _choice(rng, PATHOLOGICAL_PATTERNS if pathological else NORMAL_PATTERNS)
        severity = _severity(rng, pattern, pathological)
        progression = rng.uniform(0.04, 0.1) if pathological else 0.0
        day = first_day
        for visit in range(n_visits):
            if len(exams) >= n_exams or day > LAST_EXAM:
                break
            if visit:
                gap_days = int(rng.integers(365, 3 * 365))
                day = day + dt.timedelta(days=gap_days)
                if day > LAST_EXAM:
                    break
                severity = min(0.95, severity + progression * gap_days / 365.25)
                if pattern == "early_unilateral" and severity > 0.4:
                    pattern = "typical"
                if pattern == "low_counts":
                    pattern = "typical" if pathological else "normal"
            exams.append(
                _make_exam(
                    rng, len(exams), patient, day, pattern, severity, staff[centre.key], visit > 0
                )
            )
    _assign_ids(rng, patients, exams)
    _assign_splits(rng, patients)
    return exams


def _make_exam(
    rng: np.random.Generator,
    index: int,
    patient: Patient,
    day: dt.date,
    pattern: str,
    severity: float,
    staff: dict[str, list[str]],
    follow_up: bool,
) -> Exam:
    centre = patient.centre
    person = patient.person
    age = _age_on(person.birth_date, day)
    if pattern == "elderly_low_normal" and age < 75:
        age_shift = 75 - age + int(rng.integers(0, 8))
        age += age_shift
    binding, evidence = _binding_for(rng, pattern, severity, age, person.sex)
    truth = LABELS[int(patient.pathological or (pattern == "vascular_focal" and severity > 0.12))]
    gray = pattern in GRAY_ZONE_PATTERNS
    votes, confidence = _readers(rng, evidence, gray)
    consensus = max(LABELS, key=votes.count)
    flipped = (not gray) and rng.random() < TRANSCRIPTION_ERROR_RATE
    label = LABELS[1 - LABELS.index(consensus)] if flipped else consensus
    injected = dt.datetime.combine(day, dt.time(8, 0)) + dt.timedelta(
        minutes=int(rng.integers(0, 240))
    )
    acquired = injected + dt.timedelta(minutes=int(rng.integers(190, 330)))
    sex_weight = 76 if person.sex == "M" else 64
    referring = pick(rng, staff["referring"])
    performing = pick(rng, staff["nuclear"])
    accession = f"{centre.key[:3].upper()}{day:%y}{int(rng.integers(10**6, 10**7))}"
    return Exam(
        index=index,
        exam_id="",
        patient=patient,
        centre=centre,
        acquired=acquired,
        injected=injected,
        dose_mbq=round(float(np.clip(rng.normal(170, 12), 111, 190)), 1),
        age=age,
        weight_kg=int(np.clip(rng.normal(sex_weight, 12), 40, 140)),
        height_m=round(
            float(np.clip(rng.normal(1.76 if person.sex == "M" else 1.63, 0.07), 1.45, 2.0)), 2
        ),
        pattern=pattern,
        severity=round(float(severity), 4),
        truth=truth,
        label=label,
        label_flipped=label != truth,
        gray_zone=gray,
        reader_votes=votes,
        reader_confidence=confidence,
        binding=binding,
        measured=measured_sbr(rng, binding, centre),
        pose=_pose(rng, pattern),
        accession=accession,
        study_id=f"{int(rng.integers(10**4, 10**5))}",
        referring=referring,
        performing=performing,
        operator=pick(rng, staff["operators"]),
        reading=pick(rng, staff["nuclear"]),
        series_number=int(rng.choice([1, 2, 3, 1001, 5])),
        texts=_texts(rng, patient, day, referring, performing, follow_up),
    )


def _assign_ids(rng: np.random.Generator, patients: list[Patient], exams: list[Exam]) -> None:
    """Platform IDs in random order, so that an ID tells nothing of centre, date or label."""
    for number, i in enumerate(rng.permutation(len(patients)), start=1):
        patients[int(i)].subject_id = f"DPK-P{number:04d}"
    for number, i in enumerate(rng.permutation(len(exams)), start=1):
        exams[int(i)].exam_id = f"DPK-E{number:05d}"
    for exam in exams:
        exam.patient.exams.append(exam)


def _assign_splits(rng: np.random.Generator, patients: list[Patient]) -> None:
    """60/20/20 at patient level, stratified by centre and the first exam's label.

    Patients are walked stratum by stratum in random order and dealt from
    shuffled blocks of five (3 train, 1 public test, 1 private test), so each
    stratum is balanced to within one patient and the totals to within a block.
    """
    block = ("train", "train", "train", "public_test", "private_test")
    strata: dict[tuple[str, str], list[Patient]] = {}
    for patient in patients:
        if patient.exams:
            strata.setdefault((patient.centre.key, patient.exams[0].label), []).append(patient)
    dealt: list[str] = []
    for key in sorted(strata):
        members = strata[key]
        for i in rng.permutation(len(members)):
            if not dealt:
                dealt = [block[int(j)] for j in rng.permutation(len(block))]
            split = dealt.pop()
            for exam in members[int(i)].exams:
                exam.split = split


def uid(root: str, *parts: object) -> str:
    """A deterministic DICOM UID under ``root``: digits of a SHA-256 of ``parts``."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    number = str(int.from_bytes(digest[:16], "big"))
    return (root + number)[:64].rstrip(".")
