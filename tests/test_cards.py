"""Data cards are validated in full, and their schema is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.errors import ConfigError
from portal.release.cards import DATASHEET_SECTIONS, Card, DataCard, load_card

ROOT = Path(__file__).resolve().parent.parent


def test_the_datpark_card_is_valid_and_complete():
    card = load_card(ROOT / "data_cards" / "datpark.md")
    assert isinstance(card, Card)
    assert card.meta.task.classes == ["normal", "pathological"]
    assert card.meta.deidentification.pseudonym_prefix == "DPK"
    assert set(DATASHEET_SECTIONS) <= set(card.sections)
    assert "gray zone" in card.sections["Motivation"]
    assert "synthetic" in card.body.lower(), "the card must say the portal's data is synthetic"


def test_every_problem_is_reported_at_once(tmp_path):
    text = (ROOT / "data_cards" / "datpark.md").read_text()
    text = text.replace("license: CC-BY-4.0", "license: CC BY 4.0")
    text = text.replace("keywords:\n", "keywords_typo:\n")
    text = text.replace("## Uses", "## Usage")
    bad = tmp_path / "bad.md"
    bad.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_card(bad)
    problems = "\n".join(info.value.problems)
    assert "license" in problems and "SPDX" in problems
    assert "keywords" in problems and "keywords_typo" in problems
    assert "'## Uses' is missing" in problems
    assert len(info.value.problems) >= 4


def test_embargo_and_sequestered_policies_are_accepted(tmp_path):
    text = (
        (ROOT / "data_cards" / "datpark.md")
        .read_text()
        .replace("  private_test: public", "  private_test: {embargoed_until: 2027-06-30}")
        .replace("  public_test: public", "  public_test: sequestered")
    )
    path = tmp_path / "c.md"
    path.write_text(text)
    policy = load_card(path).meta.split_policy
    assert policy["public_test"] == "sequestered"
    assert str(policy["private_test"].embargoed_until) == "2027-06-30"


def test_every_front_matter_field_is_documented():
    doc = (ROOT / "docs" / "data-cards.md").read_text()
    for name in DataCard.model_fields:
        assert f"`{name}`" in doc, f"{name} is not in docs/data-cards.md"
    for section in DATASHEET_SECTIONS:
        assert f"`{section}`" in doc
