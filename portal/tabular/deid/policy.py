"""The re-identification policy the data card declares, as the de-identifier reads it.

The card's ``deidentification.tabular`` block (docs/tabular-export.md, "Data card
fields")::

    quasi_identifiers: [age, sex, centre, procedure, urgency]
    sensitive: aki          # the label whose diversity each class must show
    k: 5                    # every class holds at least k distinct patients
    l: 2                    # and at least l distinct values of the sensitive column
    max_suppression: 0.05   # at most this share of surgeries may be suppressed
    date_shift_days: [30, 365]   # each patient's shift: whole days, this far either way
    age_top_code: 90        # ages at or above it are one group
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portal.errors import ConfigError

KNOWN_QUASI_IDENTIFIERS = ("age", "sex", "centre", "procedure", "urgency")


@dataclass(frozen=True)
class Policy:
    quasi_identifiers: tuple[str, ...] = KNOWN_QUASI_IDENTIFIERS
    sensitive: str = "aki"
    k: int = 5
    l: int = 2  # noqa: E741 - the letter of l-diversity
    max_suppression: float = 0.05
    date_shift_days: tuple[int, int] = (30, 365)
    age_top_code: int = 90

    @classmethod
    def from_card(cls, block: Mapping | None) -> Policy:
        block = dict(block or {})
        unknown = set(block) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(
                f"data card, deidentification.tabular: unknown field {sorted(unknown)[0]!r}.",
                hint=f"use only: {', '.join(cls.__dataclass_fields__)}.",
            )
        policy = cls(
            quasi_identifiers=tuple(block.get("quasi_identifiers", KNOWN_QUASI_IDENTIFIERS)),
            sensitive=str(block.get("sensitive", "aki")),
            k=int(block.get("k", 5)),
            l=int(block.get("l", 2)),
            max_suppression=float(block.get("max_suppression", 0.05)),
            date_shift_days=tuple(block.get("date_shift_days", (30, 365))),  # type: ignore[arg-type]
            age_top_code=int(block.get("age_top_code", 90)),
        )
        bad = [q for q in policy.quasi_identifiers if q not in KNOWN_QUASI_IDENTIFIERS]
        if bad:
            raise ConfigError(
                f"data card, deidentification.tabular.quasi_identifiers: {bad[0]!r} has no "
                "generalisation hierarchy.",
                hint=f"choose among: {', '.join(KNOWN_QUASI_IDENTIFIERS)}.",
            )
        if policy.k < 2 or policy.l < 1 or not 0 <= policy.max_suppression < 0.5:
            raise ConfigError(
                "data card, deidentification.tabular: k must be at least 2, l at least 1, "
                "max_suppression between 0 and 0.5.",
                hint="the portal's default is k: 5, l: 2, max_suppression: 0.05.",
            )
        low, high = policy.date_shift_days
        if not 1 <= low <= high:
            raise ConfigError(
                "data card, deidentification.tabular.date_shift_days: [low, high] with "
                "1 <= low <= high.",
                hint="for example [30, 365].",
            )
        return policy
