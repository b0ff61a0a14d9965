"""k-anonymity and ℓ-diversity, reached by generalising quasi-identifiers, then suppressing.

Each quasi-identifier has a hierarchy of levels, from the released value (level 0) to
fully generalised (``*``). For every combination of levels, the surgeries in classes
that break the policy (fewer than k distinct patients, or fewer than ℓ distinct values
of the sensitive column) are counted; among the combinations where they fit in the
suppression budget, the one that loses least (``LOSS``: a challenge needs centre and
sex for its subgroups more than the exact urgency) is kept, and those surgeries are
suppressed: with their labels, labs and signals, they are not released.

A class counts distinct *patients*, not rows: a patient operated twice is one person.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from portal.tabular.deid.policy import Policy

# What each level of each hierarchy costs the challenge (level 0 costs nothing): age is
# the first risk factor of AKI and centre and sex are subgroups of the evaluation, so
# they go last; a broad procedure or urgency costs less.
LOSS = {
    "age": (0.0, 0.3, 0.7, 1.5, 6.0),
    "sex": (0.0, 3.0),
    "centre": (0.0, 3.0),
    "procedure": (0.0, 1.0, 2.5),
    "urgency": (0.0, 0.5, 1.5),
}
SUPPRESSION_WEIGHT = 6.0  # suppressing 5 % of surgeries costs 0.3


def _age_levels(top: int) -> list[tuple[str, Callable[[int], str]]]:
    def exact(age: int) -> str:
        return f"{top}+" if age >= top else str(age)

    def band(width: int) -> Callable[[int], str]:
        def label(age: int) -> str:
            if age >= top:
                return f"{top}+"
            low = age - age % width
            return f"{low}-{min(low + width - 1, top - 1)}"

        return label

    def broad(age: int) -> str:
        return "<65" if age < 65 else ("65-79" if age < 80 else "80+")

    return [
        (f"exact, {top}+ grouped", exact),
        ("5-year bands", band(5)),
        ("10-year bands", band(10)),
        ("<65, 65-79, 80+", broad),
        ("suppressed (*)", lambda _age: "*"),
    ]


def _mapping_levels(*maps: tuple[str, dict[str, str]]) -> list[tuple[str, Callable]]:
    levels: list[tuple[str, Callable]] = [("as exported", lambda v: v)]
    for description, table in maps:
        levels.append((description, lambda v, t=table: t.get(v, v)))
    levels.append(("suppressed (*)", lambda _v: "*"))
    return levels


def hierarchies(policy: Policy) -> dict[str, list[tuple[str, Callable]]]:
    """Per quasi-identifier, its levels: a description and the function of the value."""
    return {
        "age": _age_levels(policy.age_top_code),
        "sex": _mapping_levels(),
        "centre": _mapping_levels(),
        "procedure": _mapping_levels(
            (
                "CABG, valve, complex (combined, aortic, other)",
                {"combined": "complex", "aortic": "complex", "other": "complex"},
            )
        ),
        "urgency": _mapping_levels(
            (
                "elective, non-elective",
                {"urgent": "non-elective", "emergency": "non-elective", "salvage": "non-elective"},
            )
        ),
    }


@dataclass
class RiskResult:
    """What was done to reach the policy, and what was measured after."""

    levels: dict[str, int]
    descriptions: dict[str, str]
    generalised: pd.DataFrame  # the quasi-identifier columns as released
    suppressed: pd.Series  # bool per row
    k: int  # smallest number of distinct patients in a class, after suppression
    k_rows: int  # smallest number of rows in a class
    l: int  # noqa: E741 - smallest number of distinct sensitive values in a class
    classes: int
    steps: list[str] = field(default_factory=list)


def _violating(frame: pd.DataFrame, qis: list[str], policy: Policy) -> pd.Series:
    grouped = frame.groupby(qis, sort=False, dropna=False)
    patients = grouped["_patient"].transform("nunique")
    diversity = grouped["_sensitive"].transform("nunique")
    return (patients < policy.k) | (diversity < policy.l)


def anonymise(
    values: pd.DataFrame, patients: pd.Series, sensitive: pd.Series, policy: Policy
) -> RiskResult:
    """Generalise ``values`` (one column per quasi-identifier) and choose rows to suppress.

    Every combination of levels is tried (a few hundred for the five hierarchies); of those
    that stay within the suppression budget, the one that loses least is kept: the sum of
    each quasi-identifier's ``LOSS`` at its level, plus the share suppressed times
    ``SUPPRESSION_WEIGHT``; ties go to fewer suppressed surgeries.
    """
    levels_of = hierarchies(policy)
    qis = list(policy.quasi_identifiers)
    budget = int(policy.max_suppression * len(values))
    mapped = {q: [values[q].map(function) for _, function in levels_of[q]] for q in qis}

    def apply(level_map: dict[str, int]) -> pd.DataFrame:
        frame = pd.DataFrame({q: mapped[q][level_map[q]] for q in qis}, index=values.index)
        frame["_patient"] = patients.to_numpy()
        frame["_sensitive"] = sensitive.to_numpy()
        return frame

    best = None
    tried = 0
    for combination in itertools.product(*(range(len(levels_of[q])) for q in qis)):
        level_map = dict(zip(qis, combination, strict=True))
        loss = sum(LOSS[q][level_map[q]] for q in qis)
        if best is not None and loss > best[0]:
            continue  # cannot beat the best even with nothing suppressed
        bad_count = int(_violating(apply(level_map), qis, policy).sum())
        tried += 1
        if bad_count > budget:
            continue
        total = loss + SUPPRESSION_WEIGHT * bad_count / max(len(values), 1)
        if best is None or (total, bad_count) < (best[0], best[1]):
            best = (total, bad_count, level_map)
    levels = best[2] if best is not None else {q: len(levels_of[q]) - 1 for q in qis}
    frame = apply(levels)
    bad = _violating(frame, qis, policy)
    steps = [
        f"{tried} combinations of levels measured; kept the one that loses least "
        f"(loss {best[0]:.2f})"
        if best
        else "no combination within the suppression budget"
    ]
    kept = frame[~bad]
    if kept.empty:
        k = k_rows = l_value = classes = 0
    else:
        grouped = kept.groupby(qis, sort=False, dropna=False)
        k = int(grouped["_patient"].nunique().min())
        k_rows = int(grouped.size().min())
        l_value = int(grouped["_sensitive"].nunique().min())
        classes = int(grouped.ngroups)
    return RiskResult(
        levels=levels,
        descriptions={q: levels_of[q][levels[q]][0] for q in qis},
        generalised=frame[qis],
        suppressed=bad,
        k=k,
        k_rows=k_rows,
        l=l_value,
        classes=classes,
        steps=steps,
    )
