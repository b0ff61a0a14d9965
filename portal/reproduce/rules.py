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
#: The figures beside the ROC curve and the confusion matrix a challenge may ask for.
PLOTS = Literal["calibration_curve"]


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


class Predictions(_Strict):
    """The columns of a team's predictions file: the case identifier (the release's key
    column), the score (two classes: the probability of the positive class) and the
    predicted class."""

    id: str = Field("exam_id", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    score: str = Field("score", pattern=r"^[a-z][a-z0-9_]{0,39}$")
    label: str = Field("label", pattern=r"^[a-z][a-z0-9_]{0,39}$")

    @property
    def columns(self) -> list[str]:
        return [self.id, self.score, self.label]

    @property
    def noun(self) -> str:
        """What one row is called in messages (``exam_id`` -> exam)."""
        return self.id.removesuffix("_id").replace("_", " ")


class Subgroup(_Strict):
    """A subgroup read from a column of a tabular release's case table, as released
    (generalised values, such as an age band or ``*``, are groups of their own)."""

    name: str = Field(min_length=1, max_length=40)
    column: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")


class Tables(_Strict):
    """Where a tabular release keeps what scoring reads (``data/<table>/<split>.parquet``),
    and what the teams' view of it leaves out."""

    #: the table holding the card's ``task.target`` for each case
    labels: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    #: the table with one row per case, whose columns subgroups are read from
    cases: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    #: tables that give the label away (the measurements it is computed from): left out of
    #: the teams' view for every split but the training ones. Required, even when empty
    #: (``[]``): an organiser who forgot it would hand the answer key to the teams.
    withheld: list[str]


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
    subgroups: list[str | Subgroup] = Field(default_factory=list)
    #: the predictions file's columns (DICOM challenges: exam_id, score, label)
    predictions: Predictions = Field(default_factory=Predictions)
    #: figures drawn beside the ROC curve and the confusion matrix
    secondary_plots: list[PLOTS] = Field(default_factory=list)
    #: a tabular release's tables (data_kind: tabular), None for DICOM
    tables: Tables | None = None

    @property
    def subgroup_names(self) -> list[str]:
        return [s if isinstance(s, str) else s.name for s in self.subgroups]

    @model_validator(mode="after")
    def _consistent(self) -> Challenge:
        if self.scoring_split in self.training_splits:
            raise ValueError(f"scoring split {self.scoring_split} cannot also train")
        names = self.subgroup_names
        if len(set(names)) != len(names):
            raise ValueError("a subgroup is named twice")
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
    from portal.reproduce.metrics import BINARY_METRICS, METRICS, hard_case_keys

    names = set(METRICS)
    if schema.binary:
        names.update(BINARY_METRICS)
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
        if isinstance(name, Subgroup):  # a column of the case table, checked when read
            continue
        if name not in columns:
            problems.append(
                f"subgroups: {name!r} is none of centre, sex, age_band or the card's fields"
            )
    if "calibration_curve" in rules.secondary_plots and not schema.binary:
        problems.append("secondary_plots: a calibration curve needs two classes")
    if problems:
        raise ConfigError(
            f"{path}: the rules do not fit the data card in {len(problems)} place(s):",
            problems=problems,
            hint="name the card's splits (split_policy), metrics and columns (task.fields).",
        )
