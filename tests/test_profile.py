"""The de-identification profile, cross-checked against the standard's own table.

The reference copy of PS3.15 Annex E lives beside the repository
(``../shared/reference/dicom``); it is read here only to check the runtime
source (the ``dicom-anonymizer`` package) and the portal's option rules.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

from portal.profile import (
    CLEANED_DESCRIPTORS,
    EMPTIED_NOT_REMOVED,
    NEVER_SHIFTED,
    DeidOptions,
    Option,
    action_for,
    basic_action,
)

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (
    ROOT.parent / "shared" / "reference" / "dicom" / "confidentiality_profile_attributes.json"
)
OPTIONS = DeidOptions()


def reference_rows() -> list[dict]:
    if not REFERENCE.exists():
        pytest.skip("the shared reference table is not beside this checkout")
    rows = json.loads(REFERENCE.read_text())
    return [r for r in rows if len(r["tag"]) == 11 and "X" not in r["tag"][1:].upper()]


def tag_of(row: dict) -> int:
    return int(row["tag"].strip("()").replace(",", ""), 16)


def test_every_attribute_of_the_standard_table_has_its_basic_action():
    rows = reference_rows()
    assert len(rows) > 600
    for row in rows:
        assert basic_action(tag_of(row)) == row["basicProfile"], row["name"]


def test_repeating_groups_are_handled():
    assert basic_action(0x50000010) == "X"  # curve data
    assert basic_action(0x60023000) == "X"  # overlay data
    assert basic_action(0x60224000) == "X"  # overlay comments


def test_option_rules_agree_with_the_standard_columns():
    for row in reference_rows():
        tag = tag_of(row)
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        keyword = keyword_for_tag(tag)
        action = action_for(tag, keyword, vr, OPTIONS)
        if vr in ("DA", "DT") and "rtnLongModifDatesOpt" in row and keyword not in NEVER_SHIFTED:
            assert action == "S", row["name"]
        if keyword in OPTIONS.retain_patient_characteristics:
            assert row.get("rtnPatCharsOpt") == "K", row["name"]
            assert action == "K"
        if keyword in CLEANED_DESCRIPTORS:
            assert row.get("cleanDescOpt") == "C", (
                f"{keyword} is not a descriptor the standard cleans"
            )
            assert action == "C"
        kept_or_cleaned = OPTIONS.retain_patient_characteristics + list(CLEANED_DESCRIPTORS)
        plain = row["basicProfile"] in ("X", "Z") and vr not in ("DA", "DT", "TM", "SQ")
        if plain and keyword in EMPTIED_NOT_REMOVED:
            assert (row["basicProfile"], action) == ("X", "Z")  # emptied: still no value
        elif plain and keyword not in kept_or_cleaned:
            assert action == row["basicProfile"], row["name"]


def test_without_options_dates_are_not_kept():
    bare = DeidOptions(options=[])
    assert action_for(0x00080020, "StudyDate", "DA", bare) == "Z"
    assert action_for(0x00101010, "PatientAge", "AS", bare) == "X"
    assert action_for(0x00081030, "StudyDescription", "LO", bare) == "X"


def test_codes_are_cid_7050():
    assert OPTIONS.codes()[0] == ("113100", "Basic Application Confidentiality Profile")
    assert {c for c, _ in OPTIONS.codes()} == {"113100", "113105", "113107", "113108"}
    assert Option.RETAIN_DEVICE_IDENTITY not in OPTIONS.options


def _portal_imports(module: str) -> set[str]:
    tree = ast.parse((ROOT / "portal" / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    return {m for m in imported if m.startswith("portal")}


def test_the_verifier_shares_no_code_with_the_deidentifier():
    """verify.py reads files with its own byte-level reader, and nothing else of the portal
    but the process-pool factory, which knows nothing of DICOM and imports no portal code,
    and its catalogue on disk (verifystore.py), which imports nothing but verify.py."""
    assert _portal_imports("verify") == {"portal.rawdicom", "portal.workers", "portal.verifystore"}
    assert _portal_imports("verifystore") == {"portal.verify"}
    assert _portal_imports("rawdicom") == set()
    assert _portal_imports("workers") == set()
    for module in ("deid", "deidbytes", "dicomwrite"):
        assert not {"portal.rawdicom", "portal.verify"} & _portal_imports(module), module
        assert "rawdicom" not in (ROOT / "portal" / f"{module}.py").read_text()
