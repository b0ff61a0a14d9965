"""Data cards: YAML front matter (machine-readable) plus Markdown Datasheet sections.

A card is validated in full before any release starts: every problem of the
front matter and every missing Datasheet section is reported at once. The
schema is documented in ``docs/data-cards.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from portal.config import read_text_file, validation_problems
from portal.core.schema import CaseField, ChallengeSchema
from portal.deid.profile import DeidOptions
from portal.errors import ConfigError

CARDS_DIR = Path("data_cards")
#: Datasheets for Datasets (Gebru et al.), the sections every card must have.
DATASHEET_SECTIONS = (
    "Motivation",
    "Composition",
    "Collection process",
    "Preprocessing and labelling",
    "Uses",
    "Distribution",
    "Maintenance",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Creator(_Strict):
    """A person or organisation credited for the dataset."""

    name: str
    type: Literal["Organization", "Person"] = "Organization"
    role: str | None = None
    affiliation: str | None = None
    orcid: str | None = Field(None, pattern=r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
    ror: str | None = None


class Funding(_Strict):
    funder: str
    award: str | None = None


class Task(_Strict):
    type: Literal["binary-classification", "multiclass-classification"]
    target: str
    classes: list[str] = Field(min_length=2)
    #: two classes: the class scores are the probability of (default: the second)
    positive_class: str | None = None
    #: what the label means, for the release's metadata (Croissant, data card)
    label_description: str | None = None
    metric: str
    secondary_metrics: list[str] = Field(default_factory=list)
    #: the columns beside the label and the challenge-specific clinical columns (docs/data-cards.md)
    fields: list[CaseField] = Field(default_factory=list)


class ResponsibleAI(_Strict):
    """What Croissant's Responsible AI fields (``rai:``) say of the data, in the card's words."""

    annotation_protocol: str = Field(min_length=10, description="who labelled, and how")
    limitations: str = Field(min_length=10)
    biases: str = Field(min_length=10)
    personal_sensitive_information: str = Field(
        min_length=10, description="what sensitive information remains after de-identification"
    )
    social_impact: str = Field(min_length=10, description="uses to support and to refuse")


class TabularDeidentification(_Strict):
    """A tabular challenge's de-identification: its re-identification policy (quasi-
    identifiers, k, l, ...), read by ``portal.tabular`` (docs/tabular-export.md)."""

    tabular: dict[str, Any] = Field(default_factory=dict)


class Embargo(_Strict):
    embargoed_until: dt.date


SplitPolicy = Literal["public", "sequestered"] | Embargo


#: Where the records come from: ``synthetic`` (made by a program, no patient behind any
#: record) or ``real``. A synthetic dataset says so on every page and in every citation.
Provenance = Literal["synthetic", "real"]


class Citation(_Strict):
    title: str
    year: int = Field(ge=1990, le=2100)
    doi: str | None = Field(None, pattern=r"^10\.\d{4,9}/\S+$")


class DataCard(_Strict):
    """A data card's front matter."""

    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    title: str = Field(min_length=5)
    summary: str = Field(min_length=40)
    license: str = Field(description="SPDX identifier, e.g. CC-BY-4.0")
    license_url: str = Field(pattern=r"^https?://")
    language: list[str] = Field(min_length=1)
    contact: str
    creators: list[Creator] = Field(min_length=1)
    publisher: str
    funding: list[Funding] = Field(default_factory=list)
    keywords: list[str] = Field(min_length=3)
    #: the kind of data, which chooses the modality that ingests it (portal.core.modality)
    data_kind: Literal["dicom", "tabular"]
    modality: str
    body_part: str
    task: Task
    split_policy: dict[str, SplitPolicy]
    citation: Citation
    deidentification: DeidOptions | TabularDeidentification
    responsible_ai: ResponsibleAI
    reading_note: str | None = Field(
        None, description="how to read the data card's example images, in a sentence or two"
    )
    provenance: Provenance = Field(
        description="synthetic (made by a program) or real (from patients); required"
    )
    provenance_note: str | None = Field(
        None, description="for synthetic data: what it stands in for and how it was made"
    )

    @field_validator("license")
    @classmethod
    def _spdx_like(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.+-]+", value):
            raise ValueError("use an SPDX identifier such as CC-BY-4.0")
        return value

    @model_validator(mode="after")
    def _schema_holds(self) -> DataCard:
        try:
            _ = self.schema
        except ValidationError as error:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
            raise ValueError(f"task and split_policy: {problems}") from None
        wanted = DeidOptions if self.data_kind == "dicom" else TabularDeidentification
        if not isinstance(self.deidentification, wanted):
            raise ValueError(
                f"deidentification: a {self.data_kind} card's options are "
                + ("the DICOM profile's" if self.data_kind == "dicom" else "`tabular:` only")
            )
        if (self.task.type == "binary-classification") != (len(self.task.classes) == 2):
            raise ValueError(f"task.type {self.task.type} with {len(self.task.classes)} classes")
        return self

    @property
    def schema(self) -> ChallengeSchema:
        """The challenge's data schema: classes, splits in pipeline order, fields."""
        return ChallengeSchema(
            classes=self.task.classes,
            positive_class=self.task.positive_class,
            splits=list(self.split_policy),
            fields=self.task.fields,
        )


def provenance_notice(card: DataCard) -> str | None:
    """The sentence every page and citation record of a synthetic dataset carries; ``None``
    for real data."""
    if card.provenance != "synthetic":
        return None
    # an image dataset's records are exams (the words its published files already carry);
    # a table's are records
    record = "exam" if card.data_kind == "dicom" else "record"
    notice = (
        f"Synthetic data: every {record}, label and clinical value of this dataset was "
        "generated by a program; none comes from a patient."
    )
    return f"{notice} {card.provenance_note.strip()}" if card.provenance_note else notice


def cited_title(card: DataCard) -> str:
    """The title a citation carries: a synthetic dataset's says so."""
    if card.provenance == "synthetic" and "synthetic" not in card.title.lower():
        return f"{card.title} (synthetic data)"
    return card.title


class Card(BaseModel):
    """A validated card: front matter and Markdown body, split into Datasheet sections."""

    meta: DataCard
    body: str
    sections: dict[str, str]


def card_path(challenge: str) -> Path:
    return CARDS_DIR / f"{challenge}.md"


def split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    if not text.startswith("---\n"):
        raise ConfigError(
            f"{path}: no YAML front matter.", hint="start the card with '---', YAML, '---'."
        )
    end = text.find("\n---", 4)
    if end < 0:
        raise ConfigError(f"{path}: front matter is not closed.", hint="end it with a '---' line.")
    try:
        meta = yaml.safe_load(text[4:end]) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: front matter is not valid YAML: {error}") from None
    return meta, text[end + 4 :].lstrip("\n")


def sections_of(body: str) -> dict[str, str]:
    """``## Heading`` -> the Markdown under it."""
    sections: dict[str, str] = {}
    current = None
    for line in body.splitlines():
        match = re.match(r"^##\s+(.+?)\s*$", line)
        if match:
            current = match.group(1)
            sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return {k: v.strip() for k, v in sections.items()}


def load_card(path: Path) -> Card:
    """Read and validate a data card; every problem is reported at once."""
    path = Path(path)
    try:
        text = read_text_file(path).replace("\r\n", "\n")  # a card saved on Windows reads alike
    except FileNotFoundError:
        folder = path.parent.resolve()
        known = ", ".join(sorted(p.stem for p in folder.glob("*.md"))) or "none"
        raise ConfigError(
            f"data card {path.name} not found in {folder} (cards there: {known}).",
            hint="check the challenge's spelling; run from the project root (the folder "
            "holding params.yaml and data_cards/) or name it: `portal --project PATH …`; "
            f"a new challenge needs its card (see {CARDS_DIR}/datpark.md, docs/data-cards.md).",
        ) from None
    meta, body = split_front_matter(text, path)
    problems: list[str] = []
    card = None
    try:
        card = DataCard.model_validate(meta)
    except ValidationError as error:
        problems += validation_problems(error)
    sections = sections_of(body)
    for name in DATASHEET_SECTIONS:
        if not sections.get(name):
            problems.append(f"section '## {name}' is missing or empty")
    if problems or card is None:
        raise ConfigError(
            f"{path}: {len(problems)} problem(s):",
            problems=problems,
            hint="fix the items listed; docs/data-cards.md describes every field and section.",
        )
    return Card(meta=card, body=body, sections=sections)
