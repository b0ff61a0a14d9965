"""params.yaml is validated in full: every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from portal.config import load_params
from portal.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_repository_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert "datpark" in params.challenges
    assert params.challenge("datpark").synth.exams >= 1


def test_all_problems_are_reported_together(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(
        "challenges:\n  datpark:\n    title: x\n    synth: {exams: 0, shape: 12x12, colour: blue}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_params(bad)
    text = str(info.value)
    assert len(info.value.problems) == 3
    for fragment in ("synth.exams", "synth.shape", "synth.colour"):
        assert fragment in text


def test_release_entries_are_checked(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text(
        "challenges:\n  datpark: {title: x}\n"
        "releases:\n  datpark-1.0: {challenge: datpark, version: '1.0', date: '2025-01-01',"
        " notes: 'a release note'}\n"
    )
    with pytest.raises(ConfigError, match="version"):
        load_params(bad)
    params = load_params(ROOT / "params.yaml")
    assert params.release("datpark", "1.0.0").date == "2025-06-01"
    with pytest.raises(ConfigError, match=r"no release datpark-9\.9\.9"):
        params.release("datpark", "9.9.9")


def test_reproductions_name_a_listed_release_and_a_team(tmp_path):
    params = load_params(ROOT / "params.yaml")
    teams = {(r.challenge, r.team) for r in params.reproductions.values()}
    assert teams == {
        (p.parent.parent.name, p.parent.name)
        for p in (ROOT / "reproduce").glob("*/*/algorithm.yaml")
    }
    bad = tmp_path / "params.yaml"
    bad.write_text(
        "challenges:\n  datpark: {title: x}\n"
        "reproductions:\n  datpark-2.0.0-sbr: {challenge: datpark, version: 2.0.0, team: sbr}\n"
        "  wrong-name: {challenge: datpark, version: 2.0.0, team: Bad Team}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_params(bad)
    assert any("reproductions.wrong-name.team" in p for p in info.value.problems)
    bad.write_text(
        "challenges:\n  datpark: {title: x}\n"
        "reproductions:\n  datpark-2.0.0-sbr: {challenge: datpark, version: 2.0.0, team: sbr}\n"
    )
    with pytest.raises(ConfigError, match=r"release datpark-2\.0\.0 is not under releases"):
        load_params(bad)


def test_unknown_challenge_names_the_known_ones():
    params = load_params(ROOT / "params.yaml")
    with pytest.raises(ConfigError, match="known: datpark"):
        params.challenge("datparc")


def test_missing_file_says_where_to_run_from(tmp_path):
    with pytest.raises(ConfigError, match="project root") as caught:
        load_params(tmp_path / "params.yaml")
    assert str(tmp_path) in caught.value.message and "--project" in caught.value.hint


def test_every_setting_is_documented():
    """A setting nobody can find is a bug: each field appears in docs/configuration.md."""
    from portal.config import (
        ChallengeParams,
        Params,
        PublicationParams,
        ReleaseParams,
        ReproductionParams,
        SandboxParams,
        SiteParams,
        SynthParams,
    )

    doc = (ROOT / "docs" / "configuration.md").read_text()
    models = (
        Params,
        ChallengeParams,
        SynthParams,
        ReleaseParams,
        ReproductionParams,
        PublicationParams,
        SiteParams,
        SandboxParams,
    )
    for model in models:
        for name in model.model_fields:
            assert f"`{name}`" in doc, f"{model.__name__}.{name} is not in docs/configuration.md"


def test_a_mirror_address_with_credentials_or_an_unknown_release_is_refused(tmp_path):
    from portal.config import load_params

    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    cases = {
        "s3://AKIAEXAMPLE:secret@bucket/x": "publications.datpark-1.0.0-m.to",
        "ftp://host/x": "publications.datpark-1.0.0-m.to",
    }
    for to, where in cases.items():
        base["publications"] = {
            "datpark-1.0.0-m": {"challenge": "datpark", "version": "1.0.0", "to": to}
        }
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
        with pytest.raises(ConfigError) as refused:
            load_params(tmp_path / "params.yaml")
        assert where in str(refused.value)
    base["publications"] = {
        "datpark-9.0.0-m": {"challenge": "datpark", "version": "9.0.0", "to": "hf://o/n"}
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(ConfigError, match=r"release datpark-9\.0\.0 is not under releases"):
        load_params(tmp_path / "params.yaml")
    base["publications"] = {
        "datpark-1.0.0-hub": {"challenge": "datpark", "version": "1.0.0", "to": "hf://o/n"}
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(base))
    assert load_params(tmp_path / "params.yaml").publications["datpark-1.0.0-hub"].to == "hf://o/n"
