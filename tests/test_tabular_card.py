"""data_cards/mlkidcar.md: the ML-KIDCAR data card, and the policy the tabular ingest reads
from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.errors import ConfigError
from portal.release.cards import DATASHEET_SECTIONS, load_card, sections_of, split_front_matter
from portal.tabular.deid.policy import Policy
from portal.tabular.ingest import card_block

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "data_cards" / "mlkidcar.md"
#: what the card schema (portal/release/cards.py) does not take yet: the only problems
#: load_card may report on this card, until it does
NOT_YET_IN_THE_SCHEMA = ("deidentification.tabular",)


def test_the_card_schema_refuses_nothing_but_the_marked_tabular_block():
    try:
        card = load_card(CARD)
    except ConfigError as error:
        assert error.problems, error.message
        for problem in error.problems:
            assert problem.startswith(NOT_YET_IN_THE_SCHEMA), problem
    else:
        assert card.meta.provenance == "synthetic"
    text = CARD.read_text()
    assert "NOT YET IN THE CARD SCHEMA" in text.split("\n---\n")[0]


def test_the_card_is_synthetic_and_has_every_datasheet_section():
    meta, body = split_front_matter(CARD.read_text(), CARD)
    assert meta["provenance"] == "synthetic" and "synthetic" in meta["provenance_note"]
    assert meta["id"] == "mlkidcar" and meta["modality"] == "tabular"
    sections = sections_of(body)
    for name in DATASHEET_SECTIONS:
        assert sections.get(name), name
    assert "synthetic" in body.split("## Motivation")[0].lower()


def test_the_ingest_reads_the_declared_quasi_identifiers_k_and_l():
    block = card_block(CARD)
    policy = Policy.from_card(block)
    assert policy.quasi_identifiers == ("age", "sex", "centre", "procedure", "urgency")
    assert policy.sensitive == "aki" and policy.k >= 2 and policy.l >= 2
    prose = sections_of(split_front_matter(CARD.read_text(), CARD)[1])[
        "Preprocessing and labelling"
    ]
    assert f"**k = {policy.k}**" in prose and f"**l = {policy.l}**" in prose
    assert f"at most {policy.max_suppression * 100:.0f} %" in prose
    for q in policy.quasi_identifiers:
        assert re.search(rf"\b{q}\b", prose), q


def test_a_card_without_front_matter_closing_or_yaml_is_one_line(tmp_path):
    bad = tmp_path / "card.md"
    bad.write_text("---\ndeidentification: [unclosed\n---\n")
    with pytest.raises(ConfigError, match=r"card\.md: not valid YAML"):
        card_block(bad)
