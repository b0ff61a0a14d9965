"""No credential in the repository: every tracked file is searched for what keys,
tokens and passwords look like. (test_scaleout.py also searches logs and runs for
the exact secrets its servers used.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LOOKS_SECRET = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "S3 secret in a config": re.compile(
        r"(?im)^\s*(aws_)?secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{16,}"
    ),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "password in a database URI": re.compile(r"postgres(ql)?(\+\w+)?://[^:/@\s]+:[^@\s/]+@"),
    "private key": re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----"),
}


def findings(text: str) -> list[str]:
    return [name for name, pattern in LOOKS_SECRET.items() if pattern.search(text)]


def test_the_patterns_catch_what_they_are_for():
    planted = {
        "AWS access key id": "key = AKIAIOSFODNN7EXAMPLE",
        "S3 secret in a config": "    secret_access_key = wJalrXUtnFEMI/K7MDENGbPxRfiCYEXAMPLEKEY",
        "Hugging Face token": "HF_TOKEN=hf_" + "a1B2" * 9,
        "password in a database URI": "postgresql://mlflow:hunter2@db:5432/mlflow",
        "private key": "-----BEGIN OPENSSH PRIVATE KEY-----",
    }
    for name, text in planted.items():
        assert findings(text) == [name], name
    assert findings("postgresql://mlflow@db:5432/mlflow  secret_access_key = …") == []


@pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")
def test_no_tracked_file_holds_a_credential():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [p for p in listed.stdout.decode().split("\0") if p]
    assert ".dvc/config" in paths and "pyproject.toml" in paths
    leaks = {}
    for relative in paths:
        if relative == "tests/test_secrets.py":  # the planted examples above
            continue
        path = ROOT / relative
        if path.is_file():
            found = findings(path.read_bytes().decode("utf-8", "replace"))
            if found:
                leaks[relative] = found
    assert not leaks, f"credentials in tracked files: {leaks}"
    config = (ROOT / ".dvc" / "config").read_text()
    assert not re.search(r"(?m)^\s*(access_key_id|secret_access_key|password)\s*=", config)
