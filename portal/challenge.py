"""A challenge's rules (``reproduce/<challenge>/challenge.yaml``): phases, metric, tolerance.

Read and validated in full, like every configuration of the portal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portal.config import validation_problems
from portal.errors import ConfigError

SPLITS = ("train", "public_test", "private_test")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Phase(_Strict):
    name: str
    start: dt.date
    end: dt.date
    split: Literal["train", "public_test", "private_test"]
    description: str = ""


class MetricSpec(_Strict):
    official: Literal["balanced_accuracy", "roc_auc"]
    secondary: list[str] = Field(default_factory=list)
    positive_class: str = "pathological"


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
    training_splits: list[Literal["train", "public_test", "private_test"]]
    scoring_split: Literal["train", "public_test", "private_test"]
    bootstrap: Bootstrap = Field(default_factory=Bootstrap)

    @model_validator(mode="after")
    def _consistent(self) -> Challenge:
        if self.scoring_split in self.training_splits:
            raise ValueError(f"scoring split {self.scoring_split} cannot also train")
        for phase in self.phases:
            if phase.end < phase.start:
                raise ValueError(f"phase {phase.name} ends before it starts")
        return self


def load_challenge(path: Path) -> Challenge:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"{path} not found.", hint="write reproduce/<challenge>/challenge.yaml."
        ) from None
    try:
        return Challenge.model_validate(raw)
    except ValidationError as error:
        problems = validation_problems(error)
        raise ConfigError(
            f"{path}: {len(problems)} problem(s):",
            problems=problems,
            hint="fix the fields listed; docs/reproduction.md describes them.",
        ) from None
