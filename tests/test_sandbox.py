"""The sandbox team code runs in: crashes, time limits, network attempts, confined writes."""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import pytest

from portal.sandbox import Limits, namespaces_available, run

PYTHON = "/usr/bin/python3"  # world-readable: the sandbox user cannot enter /root
pytestmark = pytest.mark.skipif(not Path(PYTHON).exists(), reason="Debian python3 needed")
isolated = pytest.mark.skipif(
    not namespaces_available(), reason="needs root for mount and network namespaces"
)


def script(tmp_path: Path, body: str) -> list[str]:
    """The team's code, in a folder the sandbox mounts read-only as ``{code}``."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "team.py").write_text(textwrap.dedent(body))
    return [PYTHON, "{code}/team.py"]


def code(tmp_path: Path) -> dict[str, Path]:
    return {"code": tmp_path / "code"}


def test_a_clean_run_writes_in_its_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = run(
        script(
            tmp_path,
            """
        import os
        open("predictions.csv", "w").write("exam_id,label\\nE1,normal\\n")
        print("seed", os.environ.get("PYTHONHASHSEED"), "home", os.environ["HOME"])
        print("secret", os.environ.get("PORTAL_DEID_KEY"))
    """,
        ),
        run_dir,
        mounts=code(tmp_path),
        limits=Limits(wall_seconds=60),
    )
    assert result.ok, result.stderr_tail
    assert (run_dir / "predictions.csv").read_text().startswith("exam_id")
    assert "seed 0" in result.stdout_tail and "secret None" in result.stdout_tail


def test_a_crash_fails_with_the_log_tail(tmp_path):
    result = run(
        script(tmp_path, "raise SystemExit('model file missing: weights.pt')"),
        tmp_path / "run",
        mounts=code(tmp_path),
        limits=Limits(wall_seconds=60),
    )
    assert not result.ok and result.failure == "exited with code 1"
    assert "weights.pt" in result.stderr_tail


def test_a_run_past_its_wall_clock_is_stopped(tmp_path):
    result = run(
        script(tmp_path, "import time\ntime.sleep(60)"),
        tmp_path / "run",
        mounts=code(tmp_path),
        limits=Limits(wall_seconds=2),
    )
    assert result.timed_out and result.failure.startswith("timeout")
    assert result.wall_seconds < 20


def test_a_socket_to_a_local_listener_is_a_network_attempt(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        result = run(
            script(
                tmp_path,
                f"""
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"leak")
        """,
            ),
            tmp_path / "run",
            mounts=code(tmp_path),
            limits=Limits(wall_seconds=60),
        )
    finally:
        listener.close()
    assert not result.ok and result.failure.startswith("network attempt")
    assert str(port) in result.failure


@isolated
def test_the_team_cannot_write_outside_its_run_directory(tmp_path):
    Path("/tmp/left-behind").unlink(missing_ok=True)
    release = tmp_path / "release"
    release.mkdir()
    (release / "labels.csv").write_text("exam_id,label\n")
    release.chmod(0o777)  # even a world-writable input is read-only inside
    (release / "labels.csv").chmod(0o666)
    result = run(
        script(
            tmp_path,
            f"""
        import os
        targets = ["{{release}}/labels.csv", "{{release}}/new.txt", "{{code}}/team.py",
                   {str(tmp_path / "beside-the-run.txt")!r}]
        for target in targets:
            try:
                open(target, "a").write("tampered")
                print("WROTE", target)
            except OSError as error:
                print("DENIED", type(error).__name__)
        open("/tmp/left-behind", "w").write("x")
        open("inside.txt", "w").write("ok")
        print("CWD", os.getcwd())
    """,
        ),
        tmp_path / "run",
        mounts={**code(tmp_path), "release": release},
        limits=Limits(wall_seconds=60),
    )
    assert result.ok, result.stderr_tail
    assert "WROTE" not in result.stdout_tail and result.stdout_tail.count("DENIED") == 4
    assert (release / "labels.csv").read_text() == "exam_id,label\n"
    assert not (release / "new.txt").exists() and not (tmp_path / "beside-the-run.txt").exists()
    assert (tmp_path / "run" / "inside.txt").read_text() == "ok"
    assert "CWD /run/portal-sandbox/run" in result.stdout_tail, "the same path on every machine"
    assert not Path("/tmp/left-behind").exists(), "/tmp is private to the run"
    assert all(result.isolation.values()), result.isolation


@isolated
def test_even_without_the_guard_the_network_is_unreachable(tmp_path):
    result = run(
        script(
            tmp_path,
            """
        import importlib, socket
        socket.socket.connect = socket.socket.__dict__.get("connect", socket.socket.connect)
        import _socket
        s = _socket.socket()
        try:
            s.connect(("127.0.0.1", 9))
            print("CONNECTED")
        except OSError as error:
            print("UNREACHABLE", error.errno)
    """,
        ),
        tmp_path / "run",
        mounts=code(tmp_path),
        limits=Limits(wall_seconds=60),
    )
    assert "CONNECTED" not in result.stdout_tail and "UNREACHABLE" in result.stdout_tail
