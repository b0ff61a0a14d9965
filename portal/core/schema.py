"""A challenge's data schema: its classes, its splits and the fields beside each label.

Nothing in the portal names a challenge's classes, splits or label fields: they are read
from the challenge's data card (``data_cards/<challenge>.md``, front matter ``task:`` and
``split_policy:``, documented in ``docs/data-cards.md``) into a :class:`ChallengeSchema`,
which every stage receives: the export contract checks tables against it, the release
types its columns and describes them, the reproduction scores predictions with its
classes, and the site labels its figures with it. A second challenge is a second card.

Per-case fields: ``labels.csv`` always holds ``exam_id``, ``patient_id`` and ``label``
(one of the classes); every other column of it, and every challenge-specific column of
``clinical.csv`` the release should store as a number, is declared as a
:class:`CaseField` with its type. A boolean label field may mark *hard cases* (DaT-Park's
clinical gray zone): the reproduction then reports the official metric on them apart.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Split, class and field names become file names, column names and URL parts.
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: Class names are shown to readers and written in predictions files.
CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.+-]{0,39}$")
#: Columns every export holds whatever the challenge (the export contract's own).
CONTRACT_COLUMNS = {
    "labels.csv": ("exam_id", "patient_id", "label"),
    "splits.csv": ("exam_id", "split"),
    "clinical.csv": ("exam_id", "age", "sex", "centre"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseField(_Strict):
    """One declared column beside the label (``labels.csv``) or in ``clinical.csv``."""

    name: str
    table: Literal["labels", "clinical"] = "labels"
    type: Literal["boolean", "integer", "number", "text"]
    description: str = Field(min_length=3)
    #: integers only: the accepted range, both ends included
    min: int | None = None
    max: int | None = None
    #: booleans only: the cases marked true are hard to label; the official metric is
    #: also reported on them (``<name>_<metric>``) and on the others
    hard_cases: bool = False
    #: booleans only: how a subgroup table names the two values, e.g. gray zone / clear
    shown_true: str | None = None
    shown_false: str | None = None
    #: described in the release's ``croissant.json`` (a card may keep a field out of it
    #: to rebuild a release published before the field was described, byte for byte)
    in_croissant: bool = True

    @field_validator("name")
    @classmethod
    def _plain(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"field name {value!r}: use lower-case letters, digits and _")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CaseField:
        if self.name in {c for cols in CONTRACT_COLUMNS.values() for c in cols} | {"split"}:
            raise ValueError(f"field {self.name!r} is a column of the export contract itself")
        if (self.min is not None or self.max is not None) and self.type != "integer":
            raise ValueError(f"field {self.name!r}: min and max are for integer fields")
        if self.type != "boolean" and (self.hard_cases or self.shown_true or self.shown_false):
            raise ValueError(
                f"field {self.name!r}: hard_cases, shown_true and shown_false are for booleans"
            )
        if self.hard_cases and self.table != "labels":
            raise ValueError(f"field {self.name!r}: hard cases are marked in labels.csv")
        return self

    def shown(self, value: bool) -> str:
        """How a subgroup table names one value of a boolean field."""
        if value:
            return self.shown_true or self.name.replace("_", " ")
        return self.shown_false or f"not {self.name.replace('_', ' ')}"


class ChallengeSchema(_Strict):
    """What the pipeline needs to know of one challenge's data, read from its card."""

    classes: list[str] = Field(min_length=2)
    #: two classes: the one scores are the probability of (ROC curves, AUROC); more
    #: classes: none (AUROC is then the macro one-vs-rest mean)
    positive_class: str | None = None
    splits: list[str] = Field(min_length=1)
    fields: list[CaseField] = Field(default_factory=list)

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: list[str]) -> list[str]:
        for name in value:
            if not CLASS_NAME.match(name):
                raise ValueError(f"class {name!r}: letters, digits, space, _ . + - (at most 40)")
        if len(set(value)) != len(value):
            raise ValueError("a class is listed twice")
        return value

    @field_validator("splits")
    @classmethod
    def _splits(cls, value: list[str]) -> list[str]:
        for name in value:
            if not NAME.match(name):
                raise ValueError(f"split {name!r}: use lower-case letters, digits and _")
        if len(set(value)) != len(value):
            raise ValueError("a split is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChallengeSchema:
        if len(self.classes) == 2:
            if self.positive_class is None:
                self.positive_class = self.classes[1]
            if self.positive_class not in self.classes:
                raise ValueError(
                    f"positive class {self.positive_class!r} is not one of {self.classes}"
                )
        elif self.positive_class is not None:
            raise ValueError("positive_class is for two classes only")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("a field is declared twice")
        return self

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def index(self) -> dict[str, int]:
        """Each class's number in metric arrays: for two classes, the positive class is 1."""
        if self.binary:
            negative = next(c for c in self.classes if c != self.positive_class)
            return {negative: 0, self.positive_class: 1}
        return {name: i for i, name in enumerate(self.classes)}

    def label_fields(self) -> list[CaseField]:
        return [f for f in self.fields if f.table == "labels"]

    def hard_case_fields(self) -> list[CaseField]:
        return [f for f in self.fields if f.hard_cases]

    def field(self, name: str) -> CaseField | None:
        return next((f for f in self.fields if f.name == name), None)

    def integers(self) -> dict[str, tuple[int, int]]:
        """Integer fields with their accepted range."""
        return {
            f.name: (f.min if f.min is not None else 0, f.max if f.max is not None else 10**9)
            for f in self.fields
            if f.type == "integer"
        }

    def columns(self, table: str) -> tuple[str, ...]:
        """The columns an export's ``table`` must hold: the contract's and the declared."""
        own = tuple(f.name for f in self.fields if f"{f.table}.csv" == table)
        return CONTRACT_COLUMNS[table] + (own if table == "labels.csv" else ())

    def describe_classes(self) -> str:
        """``normal or pathological``; ``A, B or C``."""
        return " or ".join([", ".join(self.classes[:-1]), self.classes[-1]])

    def describe_splits(self) -> str:
        if len(self.splits) == 1:
            return self.splits[0]
        return " or ".join([", ".join(self.splits[:-1]), self.splits[-1]])
