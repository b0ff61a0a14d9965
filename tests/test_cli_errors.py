"""Usage errors of the real ``portal`` executable: one line, the usage line, exit 2, no traceback.

Every command of the command tree is called with a mistyped option; the exit-code table in
docs/cli.md is checked against portal/errors.py; every hint in portal/ that names a
``portal`` command or an option is checked against the command tree.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from portal import errors
from portal.cli import app

ROOT = Path(__file__).resolve().parents[1]
PORTAL = Path(sys.executable).parent / "portal"
TREE = typer.main.get_command(app)


def portal(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTAL), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def command_paths(command=TREE, path: tuple[str, ...] = ()):
    """Every command and group under ``portal``, as the words that call it."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from command_paths(sub, (*path, name))


def options_of(command) -> dict[str, bool]:
    """Option name -> whether it takes a value (every command has --help)."""
    return {
        "--help": False,
        **{
            name: not (param.is_flag or getattr(param, "count", False))
            for param in command.params
            if param.param_type_name == "option"
            for name in (*param.opts, *param.secondary_opts)
        },
    }


def assert_usage_error(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exactly one error line, then the usage line of ``portal <words>``; exit 2."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == errors.EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("error: "), lines
    assert lines[1].startswith(" ".join(("Usage: portal", *words)).strip()), lines
    assert done.stdout == ""
    return lines[0]


COMMANDS = sorted(path for path, _ in command_paths())


def test_the_tree_holds_every_command():
    assert ("synth",) in COMMANDS and ("site", "serve") in COMMANDS and () in COMMANDS
    assert len(COMMANDS) >= 12


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "portal")
def test_a_mistyped_option_is_one_line_and_exit_2_for_every_command(path, tmp_path):
    done = portal(*path, "--bogus-option", cwd=tmp_path)
    line = assert_usage_error(done, *path)
    assert "--bogus-option" in line
    assert list(tmp_path.iterdir()) == [], "nothing is written on a usage error"


@pytest.mark.parametrize(
    ("args", "words", "expected"),
    [
        ((), (), "missing command: choose one of synth, ingest"),
        (("relase",), (), "Did you mean 'release'"),
        (("--versoin",), (), "did you mean --version"),
        (("site",), ("site",), "missing command: choose one of build, serve"),
        (("synth", "datpark", "--exams", "abc"), ("synth",), "'--exams'"),
        (("synth", "datpark", "--exams", "0"), ("synth",), "'--exams'"),
        (("synth", "datpark", "--workers", "0"), ("synth",), "'--workers'"),
        (("synth", "datpark", "--seed", "-1"), ("synth",), "'--seed'"),
        (("ingest", "datpark", "--workers", "0"), ("ingest",), "'--workers'"),
        (
            ("publish", "datpark", "--version", "1.0.0", "--to", "dir:///x", "--workers", "0"),
            ("publish",),
            "'--workers'",
        ),
        (("site", "serve", "--port", "0"), ("site", "serve"), "'--port'"),
        (("site", "serve", "--port", "70000"), ("site", "serve"), "'--port'"),
        (("release", "datpark"), ("release",), "Missing option '--version'"),
        (("reproduce",), ("reproduce",), "Missing argument"),
        (("ingest", "datpark", "--project", "."), ("ingest",), "put it before the command"),
        (("--project", "no/such/folder", "verdicts", "datpark"), (), "'--project'"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else None,
)
def test_the_usage_errors_seen_in_the_field(args, words, expected, tmp_path):
    line = assert_usage_error(portal(*args, cwd=tmp_path), *words)
    assert expected in line
    assert list(tmp_path.iterdir()) == []


def test_help_and_version_still_exit_0(tmp_path):
    assert portal("--help", cwd=tmp_path).returncode == 0
    assert portal("site", "--help", cwd=tmp_path).returncode == 0
    assert portal("--version", cwd=tmp_path).stdout.startswith("portal ")


def test_debug_shows_the_traceback_of_a_portal_error_and_keeps_its_exit_code(tmp_path):
    quiet = portal("synth", "nope", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert quiet.returncode == errors.ConfigError.exit_code
    assert "Traceback" not in quiet.stderr and "error: no synthetic generator" in quiet.stderr
    loud = portal("--debug", "synth", "nope", "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert loud.returncode == errors.ConfigError.exit_code
    assert "Traceback" in loud.stderr and "portal.errors.ConfigError" in loud.stderr
    assert "error: no synthetic generator" in loud.stderr
    usage = portal("--debug", "relase", cwd=tmp_path)
    assert usage.returncode == 2 and "Traceback" in usage.stderr


def small_project(root: Path) -> Path:
    """Just enough of a project for the lookups: one challenge with two teams, one card."""
    for team in ("alpha", "beta"):
        (root / "reproduce" / "datpark" / team).mkdir(parents=True)
        (root / "reproduce" / "datpark" / team / "algorithm.yaml").write_text("{}\n")
    (root / "reproduce" / "datpark" / "challenge.yaml").write_text("{}\n")
    (root / "data_cards").mkdir(exist_ok=True)
    (root / "data_cards" / "datpark.md").write_text("---\n---\n")
    return root


def test_an_unknown_challenge_is_named_with_the_folder_and_the_known_ones(tmp_path):
    project = small_project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    typo = portal("--project", str(project), "verdicts", "datprak", cwd=elsewhere)
    assert typo.returncode == errors.ConfigError.exit_code
    assert "'datprak'" in typo.stderr and str(project / "reproduce") in typo.stderr
    assert "datpark" in typo.stderr.replace("'datprak'", "")
    assert "portal reproduce datprak" not in typo.stderr
    assert "Traceback" not in typo.stderr
    lost = portal("verdicts", "datpark", cwd=elsewhere)
    assert lost.returncode == errors.ConfigError.exit_code
    assert str(elsewhere / "reproduce") in lost.stderr and "--project" in lost.stderr
    known = portal("--project", str(project), "verdicts", "datpark", cwd=elsewhere)
    assert known.returncode == errors.PortalError.exit_code
    assert "portal reproduce datpark" in known.stderr  # no run yet: the fix is to run it


def test_a_missing_card_names_the_folder_and_the_project_root(tmp_path):
    project = small_project(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = portal("ingest", "datpark", cwd=elsewhere)
    assert lost.returncode == errors.ConfigError.exit_code
    assert str(elsewhere / "data_cards") in lost.stderr
    assert "project root" in lost.stderr and "--project" in lost.stderr
    typo = portal("--project", str(project), "ingest", "datprak", cwd=elsewhere)
    assert "datprak.md not found in " + str(project / "data_cards") in typo.stderr
    assert "cards there: datpark" in typo.stderr
    assert "Traceback" not in lost.stderr + typo.stderr


def test_a_missing_params_file_names_the_folder(tmp_path):
    done = portal("release", "datpark", "--version", "1.0.0", cwd=tmp_path)
    assert done.returncode == errors.ConfigError.exit_code
    assert f"params.yaml not found in {tmp_path}" in done.stderr and "--project" in done.stderr


def test_a_misspelled_team_stops_before_any_run_and_prints_no_table(tmp_path):
    project = small_project(tmp_path / "project")
    done = portal("--project", str(project), "reproduce", "datpark", "alpah", cwd=tmp_path)
    assert done.returncode == errors.ConfigError.exit_code
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: no team 'alpah'") and "teams: alpha, beta" in lines[1]
    assert done.stdout == "", "no empty verdict table"
    assert not (project / "runs").exists()


def serve(site: Path, port: int, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PORTAL), "site", "serve", "--site", str(site), "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def built_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>portal</title>\n")
    (site / "big.bin").write_bytes(os.urandom(16 << 20))
    return site


def test_a_busy_port_is_one_line_naming_it_and_the_option(tmp_path):
    site = built_site(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [str(PORTAL), "site", "serve", "--site", str(site), "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == errors.PortInUseError.exit_code
    assert "Traceback" not in done.stderr and "Errno" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[0].startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert "--port" in lines[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dropped_connections_are_quiet_and_ctrl_c_is_one_line_exit_130(tmp_path):
    site = built_site(tmp_path)
    port = free_port()
    server = serve(site, port, tmp_path)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        for path in ("/favicon.ico", "/big.bin", "/big.bin", "/"):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            client.recv(100)
            # a reset instead of a close, as a browser abandoning a download does
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            client.close()
        time.sleep(0.5)
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == errors.EXIT_INTERRUPTED, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted"), err
    assert f"http://127.0.0.1:{port}/" in out


# --- the exit-code table -------------------------------------------------------------------


def codes_in_errors_py() -> set[tuple[int, str]]:
    found = {
        (value, name)
        for name, value in vars(errors).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, errors.PortalError):
            assert cls.__doc__ and "raise" in cls.__doc__.lower(), f"{cls.__name__}: who raises it?"
            found.add((cls.exit_code, cls.__name__))
    return found


def codes_in_docs() -> set[tuple[int, str]]:
    text = (ROOT / "docs" / "cli.md").read_text()
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`\s*\|", text, flags=re.M)
    assert rows, "docs/cli.md has no exit-code table"
    return {(int(code), name) for code, name in rows}


def test_the_exit_code_table_in_the_docs_matches_errors_py():
    assert codes_in_docs() == codes_in_errors_py()


def test_every_exit_code_has_one_meaning_except_the_shared_usage_code():
    by_code: dict[int, set[str]] = {}
    for code, name in codes_in_errors_py():
        by_code.setdefault(code, set()).add(name)
    shared = {code: names for code, names in by_code.items() if len(names) > 1}
    assert shared == {errors.EXIT_USAGE: {"EXIT_USAGE", "ConfigError"}}


def test_every_command_is_documented():
    text = (ROOT / "docs" / "cli.md").read_text()
    for path in COMMANDS:
        if path:
            assert f"`portal {' '.join(path)}" in text, f"portal {' '.join(path)} is undocumented"


# --- hints name only what exists -----------------------------------------------------------


def text_of(node: ast.AST) -> str | None:
    """A string literal, with each f-string placeholder as ``X``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "X" for part in node.values
        )
    return None


def strings_of(tree: ast.AST):
    """(text, is_message) for every string; a message is an argument of an error or a hint."""
    messages: set[int] = set()
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(part) for part in node.values)
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
            error = name.endswith("Error")
            parts = list(node.args) if error else []
            parts += [k.value for k in node.keywords if error or k.arg in ("hint", "fix")]
            for part in parts:
                messages.update(id(n) for n in ast.walk(part))
    for node in ast.walk(tree):
        text = text_of(node)
        if text is not None and id(node) not in inside_fstrings:
            yield text, id(node) in messages


ALL_OPTIONS = {name for _, command in command_paths() for name in options_of(command)}
PLACEHOLDER = re.compile(r"^(X|<.*|\[.*|\.\.\.|…|PATH|FILE)$")


def problems_in_portal_span(span: str) -> list[str]:
    """What in ``portal …`` (a command as a hint writes it) does not exist in the CLI."""
    words = span.split()[1:]
    command, where, problems = TREE, "portal", []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            takes = options_of(command)
            if name not in takes:
                problems.append(f"`{span}`: {where} has no option {name}")
            elif takes[name] and "=" not in word:
                i += 1
        elif hasattr(command, "commands") and not PLACEHOLDER.match(word):
            if word not in command.commands:
                problems.append(f"`{span}`: {where} has no command {word!r}")
                break
            command, where = command.commands[word], f"{where} {word}"
        elif hasattr(command, "commands"):
            break  # a placeholder stands for the command
        i += 1
    return problems


def problems_in(text: str, is_message: bool) -> list[str]:
    problems = []
    spans = re.findall(r"`([^`]+)`", text)
    for span in spans:
        if span.split()[:1] == ["portal"]:
            problems += problems_in_portal_span(span)
    if is_message:
        foreign = " ".join(s for s in spans if s.split()[:1] != ["portal"])
        outside = re.sub(r"`[^`]+`", " ", text)
        for name in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", outside):
            if name not in ALL_OPTIONS and name not in foreign:
                problems.append(f"{text!r}: no command has an option {name}")
    return problems


def test_the_hint_checker_can_fail():
    assert problems_in("pass --lower-bump-reason 'why' to keep it", True)
    assert problems_in("run `portal reproduce datprak --fast`", False)
    assert problems_in("run `portal reproduse datpark`", False)
    assert problems_in("run `portal --bogus reproduce`", False)
    assert not problems_in("run `portal --project PATH …` or pass --workers 1", True)
    assert not problems_in("`aws s3 mb s3://<bucket> --endpoint-url <url>`", True)
    assert not problems_in("build it with `portal release X --version X` first.", True)
    assert not problems_in("run `portal site build` (or `portal site serve --port 8001`)", True)


def test_every_hint_names_only_commands_and_options_that_exist():
    problems, checked = [], 0
    for source in sorted((ROOT / "portal").rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        for text, is_message in strings_of(tree):
            if "`portal " in text or (is_message and "--" in text):
                checked += 1
                found = problems_in(text, is_message)
                problems += [f"{source.relative_to(ROOT)}: {p}" for p in found]
    assert checked > 20, "the scan found the hints"
    assert problems == []


def params_keys() -> set[str]:
    """Every key params.yaml may hold: the fields of the models in portal.config."""
    from pydantic import BaseModel

    from portal import config

    return {
        field
        for _, model in inspect.getmembers(config, inspect.isclass)
        if issubclass(model, BaseModel) and model.__module__ == config.__name__
        for field in model.model_fields
    }


def unknown_params_keys(text: str, keys: set[str]) -> list[str]:
    if "params.yaml" not in text:
        return []
    named = re.findall(r"[`']([a-z_-]+):", text)
    return [f"{text!r}: params.yaml has no key {key}" for key in named if key not in keys]


def test_every_hint_names_only_params_keys_that_exist():
    keys = params_keys()
    assert {"releases", "lower_bump_reason", "challenges"} <= keys
    assert unknown_params_keys("set `lower-bump-reason: x` in params.yaml", keys)
    problems, checked = [], 0
    for source in sorted((ROOT / "portal").rglob("*.py")):
        for text, is_message in strings_of(ast.parse(source.read_text())):
            if is_message and "params.yaml" in text:
                checked += 1
                problems += [f"{source.name}: {p}" for p in unknown_params_keys(text, keys)]
    assert checked > 5
    assert problems == []
