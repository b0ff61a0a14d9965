"""Data cards: YAML front matter (machine-readable) plus Markdown Datasheet sections.

This module reads a card and validates its front matter; de-identification
reads the ``deidentification`` block, releases read the rest.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from portal.errors import ConfigError
from portal.profile import DeidOptions

CARDS_DIR = Path("data_cards")


class DataCard(BaseModel):
    """A data card's front matter."""

    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    deidentification: DeidOptions


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


def load_card(path: Path) -> DataCard:
    """Read and validate a data card; every problem is reported at once."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"data card {path} not found.", hint=f"write it; see {CARDS_DIR}/datpark.md."
        ) from None
    meta, _ = split_front_matter(text, path)
    try:
        return DataCard.model_validate(meta)
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
        raise ConfigError(
            f"{path}: {len(problems)} problem(s) in the front matter:",
            problems=problems,
            hint="fix the fields listed; docs/data-cards.md describes them.",
        ) from None
