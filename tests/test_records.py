"""The files a reproduction writes for others: one definition each, a schema version."""

from __future__ import annotations

import json

import pytest

from portal.errors import InputError
from portal.reproduce.records import SCHEMA_VERSION, VerdictFile
from portal.reproduce.verdict import Verdict


def verdict(**changes) -> VerdictFile:
    fields = {
        "team": "sbr-logistic",
        "name": "Team SBR",
        "version": "1.0.0",
        "attempt": 1,
        "determinism": True,
        "verdict": Verdict.WITHIN_NOISE,
        "official": 0.91,
        "reproduced": 0.89,
        "difference": -0.02,
        "tolerance": 0.01,
        "ci": (0.87, 0.92),
        "reason": "difference -0.0200 exceeds the tolerance 0.01, but ...",
        "numerics": "portable",
        "numerics_reason": None,
        "hardware_sensitive": False,
        "hardware_band": None,
        "hardware": {"cpu_model": "x86-64", "libraries": "numpy 2.4"},
    }
    return VerdictFile(**(fields | changes))


def test_a_verdict_file_round_trips_with_its_schema_version(tmp_path):
    path = tmp_path / "verdict.json"
    verdict().write(path)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["verdict"] == "within noise" and data["ci"] == [0.87, 0.92]
    assert VerdictFile.read(path) == verdict()


def test_a_misspelt_key_fails_where_the_file_is_written():
    with pytest.raises(ValueError, match="verdicts"):
        verdict(verdicts="reproduced")


def test_a_bad_file_is_named_with_every_problem(tmp_path):
    path = tmp_path / "verdict.json"
    data = verdict().model_dump(mode="json")
    data["verdict"] = "almost"
    del data["team"]
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as refused:
        VerdictFile.read(path)
    text = str(refused.value)
    assert str(path) in text and "verdict:" in text and "team:" in text


def test_another_schema_version_is_refused_by_name(tmp_path):
    path = tmp_path / "verdict.json"
    path.write_text(json.dumps(verdict().model_dump(mode="json") | {"schema_version": 2}))
    with pytest.raises(InputError, match="schema version 2; this portal reads version 1"):
        VerdictFile.read(path)


def test_run_tags_round_trip_through_what_mlflow_stores():
    from portal.reproduce.records import RunTags

    tags = RunTags(
        team="cnn-saliency",
        team_name="Team CNN",
        challenge="datpark",
        release_version="1.0.0",
        release_content_hash="sha256:" + "0" * 64,
        verdict=Verdict.NOT_REPRODUCED,
        attempt="2",
        deterministic="True",
        upstream_repository="https://example.org/cnn",
        upstream_commit="a" * 40,
        numerics="portable",
        numerics_opt_out_reason="",
        numerics_libraries="torch 2.13",
        numerics_overridden="",
        hardware_sensitive="None",
        provenance={"git.commit": "b" * 40, "hardware.cpu_model": "x86-64"},
    )
    stored = tags.to_tags()
    assert stored["verdict"] == "not reproduced" and stored["release.content_hash"]
    assert stored["portal.schema_version"] == "1" and stored["git.commit"] == "b" * 40
    assert all(isinstance(value, str) for value in stored.values())
    assert RunTags.from_tags({**stored, "mlflow.runName": "x"}) == tags
