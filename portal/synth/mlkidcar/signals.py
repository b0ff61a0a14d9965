"""Minute-level intra-operative signals, as anaesthesia monitors export them.

Per surgery, one sample a minute from incision to closure (2 to 8 h), in three phases:
before bypass, on cardiopulmonary bypass (CPB), after weaning. The physiology:

- mean arterial pressure (MAP): the patient's baseline, a dip at induction, low and
  flat on bypass (non-pulsatile flow), hypotensive episodes whose number and depth
  grow with the patient's latent vasoplegia and with emergency surgery, partly
  corrected by norepinephrine after weaning;
- heart rate: absent while the aorta is cross-clamped (cardioplegic arrest), faster
  or paced after weaning;
- SpO2: absent on bypass (no pulse for the oximeter);
- temperature: cooled on bypass (deep hypothermia for aortic surgery), rewarmed;
- norepinephrine dose in µg/kg/min, stepped by the anaesthetist after weaning;
- bypass pump flow in L/min, 2.4 L/min/m² of body surface on bypass, 0 otherwise.

Then what monitors do to it: missing rows (disconnections, transfers), empty cells,
arterial-line flushes (MAP 250-300), zeroing and blood sampling (MAP 0), a probe off
(SpO2 falls or is empty), double counting of the heart rate, a displaced temperature
probe. The hypotension burden that causes acute kidney injury is measured on the true
MAP, before the artefacts; a model sees only the monitored one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from portal.synth.mlkidcar.cohort import Surgery

CHANNELS = (
    "map_mmhg",
    "hr_bpm",
    "spo2_pct",
    "temp_c",
    "norepinephrine_ug_kg_min",
    "cpb_flow_l_min",
)
DECIMALS = (0, 0, 0, 1, 3, 2)


@dataclass
class Recording:
    """What the monitor exported: the minutes it kept and their values (NaN: empty)."""

    minutes: np.ndarray  # int, offsets from the start of surgery, increasing
    values: np.ndarray  # float, (len(minutes), len(CHANNELS))
    segments: list[tuple[int, int]]  # [start, stop) row ranges: one file each


def _ar1(rng: np.random.Generator, n: int, sigma: float, phi: float = 0.85) -> np.ndarray:
    noise = rng.normal(0, sigma * np.sqrt(1 - phi**2), size=n)
    start = rng.normal(0, sigma)
    out, _ = lfilter([1.0], [1.0, -phi], noise, zi=[phi * start])
    return out


def simulate(s: Surgery, seed: int) -> Recording:
    """The true signals of ``s`` (filling its hypotension burden), then the monitor's."""
    rng = np.random.default_rng([seed, 29, s.index])
    p = s.patient
    n = s.duration_minutes
    t = np.arange(n)
    on_cpb = (t >= s.pre_minutes) & (t < s.pre_minutes + s.cpb_minutes)
    clamp_start = s.pre_minutes + min(10, s.cpb_minutes // 6)
    clamped = (t >= clamp_start) & (t < clamp_start + s.cross_clamp_minutes)
    post = t >= s.pre_minutes + s.cpb_minutes
    emergency = s.urgency in ("emergency", "salvage")

    # bypass flow
    bsa = np.sqrt(p.height_cm * s.weight_kg / 3600)
    flow = np.zeros(n)
    if s.cpb_minutes:
        full = 2.4 * bsa * rng.uniform(0.92, 1.08)
        k = np.arange(s.cpb_minutes)
        ramp = np.minimum(1, np.minimum((k + 1) / 4, (s.cpb_minutes - k) / 5))
        flow[on_cpb] = full * ramp + rng.normal(0, 0.05, size=s.cpb_minutes)
    flow = np.clip(flow, 0, None)

    # temperature
    temp = 36.2 - 0.004 * t + rng.normal(0, 0.05, size=n)
    if s.cpb_minutes:
        deep = s.procedure == "aortic" and rng.random() < 0.6
        target = rng.uniform(24, 28) if deep else rng.uniform(32, 34.5)
        k = np.arange(s.cpb_minutes)
        cool = np.clip(k / 18, 0, 1)
        warm = np.clip((s.cpb_minutes - k) / 30, 0, 1)
        level = 36.0 + (target - 36.0) * np.minimum(cool, warm)
        temp[on_cpb] = level + rng.normal(0, 0.08, size=s.cpb_minutes)
    temp[post] = 36.4 + rng.uniform(-0.5, 0.4) + rng.normal(0, 0.05, size=int(post.sum()))

    # norepinephrine after weaning
    norepi = np.zeros(n)
    need = 0.6 * p.vasoplegia + 0.5 * emergency + 0.02 * max(45 - p.lvef, 0) + rng.normal(0, 0.5)
    if need > 0.2 and post.any():
        dose = float(np.clip(0.04 + 0.12 * need, 0.02, 0.9))
        begin = s.pre_minutes + s.cpb_minutes - int(rng.integers(0, 10))
        minute = max(begin, 0)
        while minute < n:
            length = int(rng.integers(15, 45))
            norepi[minute : minute + length] = round(dose / 0.01) * 0.01
            dose = float(np.clip(dose * rng.uniform(0.7, 1.3), 0.01, 1.0))
            minute += length

    # mean arterial pressure
    base = 79 + 6 * p.hypertension - 4 * p.vasoplegia + rng.normal(0, 5)
    mean_map = np.full(n, base)
    induction = (t >= 3) & (t < 3 + int(rng.integers(10, 25)))
    mean_map[induction] -= rng.uniform(8, 18)
    mean_map[on_cpb] = 63 - 3.5 * p.vasoplegia + 3 * (flow[on_cpb] / max(flow.max(), 1e-6))
    mean_map[post] = base - 7 - 5 * p.vasoplegia - 6 * emergency + 30 * norepi[post]
    episodes = rng.poisson(max(0.4, 1.0 + 0.9 * p.vasoplegia + 1.2 * emergency))
    off_cpb = np.flatnonzero(~on_cpb)
    for _ in range(episodes):
        if off_cpb.size == 0:
            break
        at = int(off_cpb[int(rng.integers(off_cpb.size))])
        length = int(rng.integers(3, 28))
        depth = rng.uniform(10, 26) + 3 * max(p.vasoplegia, 0)
        shape = np.sin(np.linspace(0, np.pi, length)) ** 0.5
        end = min(at + length, n)
        mean_map[at:end] -= depth * shape[: end - at]
    map_true = mean_map + _ar1(rng, n, 3.0)

    # heart rate and SpO2
    hr = 70 + 12 * emergency + rng.normal(0, 8) + _ar1(rng, n, 4.0)
    paced = rng.random() < 0.3
    hr[post] = 90.0 if paced else hr[post] + 12
    hr[clamped] = np.nan
    spo2 = np.clip(98.3 + _ar1(rng, n, 0.8, 0.7), 88, 100)
    spo2[on_cpb & (flow > 0.5)] = np.nan

    off = ~on_cpb
    s.hypotension_minutes = int(np.sum((map_true < 65) & off))
    s.hypotension_area = float(np.sum(np.clip(65 - map_true, 0, None) * off))
    s.max_norepinephrine = float(norepi.max())

    values = np.column_stack([map_true, hr, spo2, temp, norepi, flow])
    return _monitor(rng, s, values, on_cpb)


def _monitor(
    rng: np.random.Generator, s: Surgery, values: np.ndarray, on_cpb: np.ndarray
) -> Recording:
    centre = s.patient.centre
    n = len(values)
    hours = n / 60
    seen = values.copy()
    for _ in range(rng.poisson(centre.artefact_rate * hours)):
        at = int(rng.integers(n))
        kind = rng.choice(5)
        length = int(rng.integers(1, 6))
        rows = slice(at, min(at + length, n))
        if kind == 0:  # arterial line flushed
            seen[rows, 0] = rng.uniform(250, 300)
        elif kind == 1:  # zeroing, blood sampling
            seen[rows, 0] = 0.0
        elif kind == 2:  # SpO2 probe off
            seen[rows, 2] = np.nan if rng.random() < 0.5 else rng.uniform(40, 80)
        elif kind == 3 and not on_cpb[at]:  # double counting of the heart rate
            seen[rows, 1] = seen[rows, 1] * 2
        else:  # temperature probe displaced
            seen[slice(at, min(at + 3 * length, n)), 3] = rng.uniform(24, 30)
    blank = rng.random(seen.shape) < 0.01
    blank[:, 4:] = False  # infusion pump and bypass console values are always sent
    seen[blank] = np.nan
    keep = np.ones(n, dtype=bool)
    keep[: int(rng.integers(0, 4))] = False  # the recording starts a little late
    gaps = []
    for _ in range(rng.poisson(centre.gap_rate * hours)):
        at = int(rng.integers(5, max(n - 5, 6)))
        length = int(rng.integers(2, 20))
        keep[at : at + length] = False
        gaps.append(at)
    minutes = np.flatnonzero(keep)
    seen = seen[keep]
    for column, decimals in enumerate(DECIMALS):
        seen[:, column] = np.round(seen[:, column], decimals)
    segments = [(0, len(minutes))]
    if gaps and len(minutes) > 40 and rng.random() < 0.3:  # the monitor was restarted
        cut = int(np.searchsorted(minutes, sorted(gaps)[0]))
        if 10 < cut < len(minutes) - 10:
            segments = [(0, cut), (cut, len(minutes))]
    return Recording(minutes=minutes, values=seen, segments=segments)
