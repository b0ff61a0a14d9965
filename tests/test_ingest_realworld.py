"""The DICOM files shipped inside pydicom and deid-data go through ingest.

Each one is either de-identified, with no verifier finding and no dciodvfy
error introduced, or quarantined with a reason and a fix.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from portal.deid.profile import DeidOptions
from portal.ingest.staging import ingest
from portal.release.cards import load_card
from tests import dciodvfy
from tests.realworld import build_export, package_dicom_files

SCHEMA = load_card(Path(__file__).resolve().parents[1] / "data_cards" / "datpark.md").meta.schema

OPTIONS = DeidOptions(pseudonym_prefix="RW")


def error_kinds(lines: list[str]) -> set[str]:
    """dciodvfy errors without the values and paths that de-identification changes."""
    kinds = set()
    for line in lines:
        line = re.sub(r"<[^>]*>", "<>", line)
        line = re.sub(r"\[[^\]]*\]", "[]", line)
        line = re.sub(r"= \S+", "=", line)
        kinds.add(line.strip())
    return kinds


@pytest.fixture(scope="module")
def realworld(tmp_path_factory):
    files = package_dicom_files()
    root = tmp_path_factory.mktemp("realworld")
    exams = build_export(files, root / "export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the test files are deliberately odd
        summary = ingest(
            "rw", root / "export", root / "data", options=OPTIONS, schema=SCHEMA, key=b"r" * 32
        )
    report = json.loads((root / "data" / "staging" / "deid_report.json").read_text())
    return {"files": files, "exams": exams, "summary": summary, "report": report, "root": root}


def test_every_file_is_deidentified_or_quarantined_with_a_reason(realworld):
    outcomes = realworld["report"]["files"]
    assert len(outcomes) == len(realworld["files"]) > 100
    staged = [o for o in outcomes if o["status"] == "ok"]
    quarantined = [o for o in outcomes if o["status"] == "quarantined"]
    assert len(staged) >= 20, "most uncompressed images should make it through"
    assert len(staged) + len(quarantined) == len(outcomes)
    for outcome in quarantined:
        assert outcome["reason"] and outcome["fix"], outcome
    assert realworld["report"]["verifier"]["passed"] is True
    assert realworld["report"]["verifier"]["elements"] > 1000


@pytest.mark.skipif(not dciodvfy.available(), reason="dciodvfy not installed")
def test_no_dciodvfy_error_is_introduced(realworld):
    root = realworld["root"]
    introduced = {}
    for outcome in realworld["report"]["files"]:
        if outcome["status"] != "ok":
            continue
        source = realworld["exams"][outcome["exam_id"]]
        before = error_kinds(dciodvfy.check(source).errors)
        after = error_kinds(dciodvfy.check(root / "data" / "staging" / outcome["output"]).errors)
        if after - before:
            introduced[source.name] = sorted(after - before)
    assert not introduced, introduced
