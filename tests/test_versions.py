"""Semver for data: the changes are computed, the bump follows from them."""

from __future__ import annotations

import pytest

from portal.errors import ConfigError, VersionError
from portal.release.versions import (
    Tables,
    bump_of,
    check_version,
    compare,
    next_version,
    parse_version,
)


def tables(labels=None, splits=None, clinical=None) -> Tables:
    labels = labels or {"E1": "normal", "E2": "pathological", "E3": "pathological"}
    return Tables(
        labels={
            e: {"exam_id": e, "patient_id": f"P{e}", "label": v, "gray_zone": "false"}
            for e, v in labels.items()
        },
        splits=splits or {e: "train" for e in labels},
        clinical=clinical or {e: {"exam_id": e, "age": "60", "centre": "C01"} for e in labels},
    )


def test_version_arithmetic():
    assert parse_version("1.10.0") == (1, 10, 0)
    assert bump_of("1.0.0", "1.1.0") == "minor" and bump_of("1.0.0", "1.0.0") is None
    assert next_version("1.2.3", "major") == "2.0.0"
    with pytest.raises(ConfigError):
        parse_version("1.0")


def test_label_fixes_are_listed_and_require_major():
    parent = tables()
    fixed = tables({"E1": "pathological", "E2": "pathological", "E3": "pathological"})
    changes = compare(parent, fixed, parent_version="1.0.0")
    assert changes.labels_changed == [
        {"exam_id": "E1", "field": "label", "from": "normal", "to": "pathological"}
    ]
    assert changes.required_bump == "major"
    text = changes.to_markdown("1.1.0")
    assert "labels changed: 1" in text and "E1 label: normal → pathological" in text
    with pytest.raises(ConfigError, match="requires a MAJOR version") as refused:
        check_version("1.1.0", "1.0.0", changes)
    # the way to keep a smaller bump is a params.yaml key, not a command-line option
    assert "`lower_bump_reason: 'why'`" in str(refused.value.hint)
    assert "params.yaml" in str(refused.value.hint) and "--" not in str(refused.value.hint)
    note = check_version(
        "1.1.0", "1.0.0", changes, lower_bump_reason="corrections of transcription errors only"
    )
    assert "transcription errors" in note
    assert check_version("2.0.0", "1.0.0", changes) == ""


def test_added_exams_need_minor_metadata_needs_patch():
    parent = tables()
    more = tables({"E1": "normal", "E2": "pathological", "E3": "pathological", "E4": "normal"})
    assert compare(parent, more, parent_version="1.0.0").required_bump == "minor"
    meta = tables(
        clinical={e: {"exam_id": e, "age": "61", "centre": "C01"} for e in ("E1", "E2", "E3")}
    )
    changes = compare(parent, meta, parent_version="1.0.0")
    assert changes.required_bump == "patch" and len(changes.metadata_changed) == 3
    split = tables(splits={"E1": "public_test", "E2": "train", "E3": "train"})
    assert compare(parent, split, parent_version="1.0.0").required_bump == "major"


def test_nothing_changed_or_version_not_greater_is_refused():
    parent = tables()
    same = compare(
        parent, tables(), parent_version="1.0.0", parent_files={"a": "1"}, new_files={"a": "1"}
    )
    assert same.empty
    with pytest.raises(VersionError, match="nothing changed"):
        check_version("1.0.1", "1.0.0", same)
    files = compare(
        parent,
        tables(),
        parent_version="1.0.0",
        parent_files={"a": "1"},
        new_files={"a": "2", "b": "3"},
    )
    assert files.files_changed == ["a"] and files.files_added == ["b"]
    with pytest.raises(VersionError, match="not greater"):
        check_version("1.0.0", "1.0.0", files)


def test_first_release_changelog():
    changes = compare(None, tables())
    assert changes.parent is None and "First release." in changes.to_markdown("1.0.0")
    assert check_version("1.0.0", None, changes) == ""
