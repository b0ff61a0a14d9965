"""Where the de-identification key comes from."""

from __future__ import annotations

import json
import stat

import pytest

from portal.deid.keys import ENV_VAR, key_id, load_key
from portal.errors import ConfigError


def test_a_real_export_gets_a_secret_key_file_made_once(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    export = tmp_path / "export"
    export.mkdir()
    secrets = tmp_path / "secrets"
    first = load_key("c", export=export, directory=secrets)
    assert len(first) == 32
    path = secrets / "c.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key("c", export=export, directory=secrets) == first
    assert load_key("other", export=export, directory=secrets) != first


def test_a_synthetic_export_gets_a_key_anyone_can_rederive(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    export = tmp_path / "export"
    export.mkdir()
    (export / "export.json").write_text(
        json.dumps({"generator": {"name": "portal synth", "seed": 4}})
    )
    a = load_key("datpark", export=export, directory=tmp_path / "s1")
    b = load_key("datpark", export=export, directory=tmp_path / "s2")
    assert a == b and not (tmp_path / "s1").exists()
    (export / "export.json").write_text(
        json.dumps({"generator": {"name": "portal synth", "seed": 5}})
    )
    assert load_key("datpark", export=export) != a


def test_the_environment_wins_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "ab" * 32)
    assert load_key("c", export=tmp_path) == bytes.fromhex("ab" * 32)
    monkeypatch.setenv(ENV_VAR, "not hex")
    with pytest.raises(ConfigError, match="hexadecimal"):
        load_key("c")
    monkeypatch.setenv(ENV_VAR, "abcd")
    with pytest.raises(ConfigError, match="too short"):
        load_key("c")


def test_key_id_reveals_nothing_of_the_key():
    key = bytes(range(32))
    assert key_id(key) != key_id(bytes(32))
    assert key.hex()[:8] not in key_id(key)
