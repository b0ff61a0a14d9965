"""A challenge's rules (``reproduce/<challenge>/challenge.yaml``): phases, metric, tolerance.

Read and validated in full, like every configuration of the portal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from portal.config import load_yaml_model

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
    return load_yaml_model(
        path,
        Challenge,
        missing="write reproduce/<challenge>/challenge.yaml.",
        fix="fix the fields listed; docs/reproduction.md describes them.",
    )
