"""A challenge's rules (``reproduce/<challenge>/challenge.yaml``): phases, metric, tolerance,
subgroups.

Read and validated in full, like every configuration of the portal. The split names and
classes are the data card's (``portal.core.schema``); :func:`check_against` holds the
rules to them, so a rule naming a split the data does not have fails before any run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portal.config import load_yaml_model
from portal.core.schema import ChallengeSchema
from portal.errors import ConfigError

#: The metrics the portal computes (portal.reproduce.metrics.METRICS).
OFFICIAL = Literal["balanced_accuracy", "roc_auc"]
#: Subgroups derived from the export contract's columns rather than read from one.
DERIVED_SUBGROUPS = {"age_band": "age"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Phase(_Strict):
    name: str
    start: dt.date
    end: dt.date
    split: str
    description: str = ""


class MetricSpec(_Strict):
    official: OFFICIAL
    secondary: list[str] = Field(default_factory=list)


class Bootstrap(_Strict):
    resamples: int = Field(2000, ge=100, le=100_000)
    seed: int = 0


class Challenge(_Strict):
    """What a reproduction is measured against."""

    id: str
    title: str
    phases: list[Phase] = Field(min_length=1)
    metric: MetricSpec
    tolerance: float = Field(gt=0, le=0.2, description="absolute, on the official metric")
    training_splits: list[str]
    scoring_split: str
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)
    #: the columns scores are broken down by: ``centre``, ``sex``, ``age_band`` (decades,
    #: from ``age``) or any field the card declares (task.fields)
    subgroups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Challenge:
        if self.scoring_split in self.training_splits:
            raise ValueError(f"scoring split {self.scoring_split} cannot also train")
        for phase in self.phases:
            if phase.end < phase.start:
                raise ValueError(f"phase {phase.name} ends before it starts")
        return self


def load_challenge(path: Path) -> Challenge:
    return load_yaml_model(
        path,
        Challenge,
        missing="write reproduce/<challenge>/challenge.yaml.",
        fix="fix the fields listed; docs/reproduction.md describes them.",
    )


def secondary_names(schema: ChallengeSchema) -> set[str]:
    """The secondary metrics a challenge of this schema can name."""
    from portal.reproduce.metrics import METRICS, hard_case_keys

    names = set(METRICS)
    for declared in schema.hard_case_fields():
        names.update(hard_case_keys(declared))
    return names


def check_against(rules: Challenge, schema: ChallengeSchema, path: Path) -> None:
    """The rules name only splits, metrics and subgroups the challenge's data has."""
    problems = []
    named = [("scoring_split", rules.scoring_split)]
    named += [("training_splits", s) for s in rules.training_splits]
    named += [(f"phase {p.name}", p.split) for p in rules.phases]
    for where, split in named:
        if split not in schema.splits:
            problems.append(
                f"{where}: split {split!r} is not one of the card's ({', '.join(schema.splits)})"
            )
    known = secondary_names(schema)
    for name in rules.metric.secondary:
        if name not in known:
            problems.append(f"metric.secondary: {name!r} is not one of {', '.join(sorted(known))}")
    columns = {f.name for f in schema.fields} | set(DERIVED_SUBGROUPS) | {"centre", "sex"}
    for name in rules.subgroups:
        if name not in columns:
            problems.append(
                f"subgroups: {name!r} is none of centre, sex, age_band or the card's fields"
            )
    if problems:
        raise ConfigError(
            f"{path}: the rules do not fit the data card in {len(problems)} place(s):",
            problems=problems,
            hint="name the card's splits (split_policy), metrics and columns (task.fields).",
        )
