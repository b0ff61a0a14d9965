"""The command line: one-line actionable errors, exit codes, no traceback unless --debug."""

from __future__ import annotations

import json
import subprocess
import sys


def portal(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_version():
    result = portal("--version")
    assert result.returncode == 0 and result.stdout.startswith("portal ")


def test_synth_writes_an_export_and_says_where(tmp_path):
    result = portal(
        "-q",
        "synth",
        "datpark",
        "--exams",
        "4",
        "--seed",
        "2",
        "--shape",
        "32x32x16",
        "--out",
        str(tmp_path / "datpark"),
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "datpark") in result.stdout.replace("\n", "")
    described = json.loads((tmp_path / "datpark" / "export.json").read_text())
    assert described["counts"]["exams"] == 4


def test_bad_option_gives_a_one_line_error_with_the_fix_and_no_traceback(tmp_path):
    result = portal("synth", "datpark", "--shape", "12x12", "--out", str(tmp_path / "x"))
    assert result.returncode == 2
    assert "ROWSxCOLSxSLICES" in result.stderr and "Fix:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_existing_output_is_refused_with_exit_code_4(tmp_path):
    args = (
        "-q",
        "synth",
        "datpark",
        "--exams",
        "2",
        "--shape",
        "32x32x16",
        "--out",
        str(tmp_path / "d"),
    )
    assert portal(*args).returncode == 0
    again = portal(*args)
    assert again.returncode == 4 and "--overwrite" in again.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = portal("--debug", "synth", "nope", "--out", str(tmp_path / "x"))
    assert result.returncode != 0 and "Traceback" in result.stderr
