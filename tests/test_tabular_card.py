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


def test_the_card_schema_takes_the_tabular_card():
    """The card validates in full: a tabular data kind, its re-identification policy under
    ``deidentification.tabular``, its schema (two classes, AKI positive)."""
    card = load_card(CARD)
    assert card.meta.provenance == "synthetic" and card.meta.data_kind == "tabular"
    assert card.meta.deidentification.tabular == card_block(CARD)
    assert card.meta.schema.positive_class == "aki"
    assert card.meta.schema.splits == ["train", "public_test", "private_test"]


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
