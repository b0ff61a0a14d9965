"""The sandbox team code runs in, attacked one way per step.

Each test is one thing a hostile team tried on an earlier version of the portal:
it must be blocked, and the portal's result must say what happened. A secret is
planted where an attacker would look (a world-readable file outside the
repository, a host process's command line, a host unix socket); no byte of it may
come back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pytest

from portal.reproduce.harvest import Caps, harvest
from portal.reproduce.sandbox import Limits, Workspace, namespaces_available, run

PYTHON = "/usr/bin/python3"  # world-readable: the sandbox user cannot enter /root
pytestmark = [
    pytest.mark.skipif(not Path(PYTHON).exists(), reason="Debian python3 needed"),
    pytest.mark.skipif(not namespaces_available(), reason="bubblewrap cannot run here"),
]


def script(tmp_path: Path, body: str) -> list[str]:
    """The team's code, in a folder the sandbox mounts read-only as ``{code}``."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "team.py").write_text(textwrap.dedent(body))
    return [PYTHON, "{code}/team.py"]


def code(tmp_path: Path) -> dict[str, Path]:
    return {"code": tmp_path / "code"}


STEP = Limits(wall_seconds=60)


def step(tmp_path: Path, body: str, limits: Limits = STEP, **kwargs):
    return run(
        script(tmp_path, body), tmp_path / "run", mounts=code(tmp_path), limits=limits, **kwargs
    )


@pytest.fixture
def secret():
    """A world-readable file outside the repository and outside /tmp, holding a token."""
    token = f"PLANTED-SECRET-{secrets.token_hex(8)}"
    folder = Path("/home") / f"portal-test-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    (folder / "secret.txt").write_text(token + "\n")
    (folder / "secret.txt").chmod(0o644)
    yield folder / "secret.txt", token
    shutil.rmtree(folder)


def everything_written(result, run_dir: Path) -> str:
    """All the portal kept of a step: its record and every file of its run directory."""
    parts = [repr(result.to_dict())]
    for path in run_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            parts.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(parts)


def test_a_clean_run_writes_in_its_run_directory(tmp_path):
    run_dir = tmp_path / "run"
    result = step(
        tmp_path,
        """
        import os
        open("predictions.csv", "w").write("exam_id,label\\nE1,normal\\n")
        print("seed", os.environ.get("PYTHONHASHSEED"), "home", os.environ["HOME"])
        print("secret", os.environ.get("PORTAL_DEID_KEY"))
        print("uid", os.getuid())
    """,
    )
    assert result.ok, result.stderr_tail
    assert (run_dir / "predictions.csv").read_text().startswith("exam_id")
    assert "seed 0" in result.stdout_tail and "secret None" in result.stdout_tail
    assert "uid 65534" in result.stdout_tail


def test_a_crash_fails_with_the_log_tail(tmp_path):
    result = step(tmp_path, "raise SystemExit('model file missing: weights.pt')")
    assert not result.ok and result.failure == "exited with code 1"
    assert "weights.pt" in result.stderr_tail


def test_a_run_past_its_wall_clock_is_stopped(tmp_path):
    result = step(tmp_path, "import time\ntime.sleep(60)", Limits(wall_seconds=2))
    assert result.timed_out and result.failure.startswith("timeout")
    assert result.wall_seconds < 20


def test_a_world_readable_file_outside_the_repository_is_not_there(tmp_path, secret):
    path, token = secret
    result = step(
        tmp_path,
        f"""
        import os
        for target in ({str(path)!r}, "/home", "/root", "/work", "/etc/shadow", "/etc/hostname"):
            try:
                print(target, "READ", open(target).read()[:100])
            except OSError as error:
                print(target, "BLOCKED", type(error).__name__)
        print("etc:", sorted(os.listdir("/etc")))
    """,
    )
    assert result.ok, result.stderr_tail
    assert token not in everything_written(result, tmp_path / "run")
    assert "READ" not in result.stdout_tail
    assert f"{path} BLOCKED FileNotFoundError" in result.stdout_tail
    assert "shadow" not in result.stdout_tail.split("etc:")[1]


def test_host_processes_are_invisible(tmp_path):
    token = f"host-process-{secrets.token_hex(6)}"
    host = subprocess.Popen(["sh", "-c", f"sleep 60 # {token}"])
    try:
        result = step(
            tmp_path,
            """
            import os
            print(open("/proc/self/mountinfo").read())
            pids = [p for p in os.listdir("/proc") if p.isdigit()]
            for pid in pids:
                try:
                    print("CMD", open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" "))
                except OSError:
                    pass
            print("PIDS", len(pids))
        """,
        )
    finally:
        host.kill()
    assert result.ok, result.stderr_tail
    assert token not in result.stdout_tail
    assert int(result.stdout_tail.split("PIDS ")[1].split()[0]) <= 3
    assert "/home" not in result.stdout_tail and "/root " not in result.stdout_tail


def test_a_host_unix_socket_through_raw_socket_is_blocked_and_named(tmp_path):
    path = Path("/run") / f"portal-test-{secrets.token_hex(4)}.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    path.chmod(0o777)
    listener.listen(1)
    listener.settimeout(0.5)
    try:
        result = step(
            tmp_path,
            f"""
            import _socket
            s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                s.connect({str(path)!r})
                s.send(b"leak")
                print("CONNECTED")
            except OSError as error:
                print("BLOCKED", error)
        """,
        )
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
        path.unlink()
    assert "CONNECTED" not in result.stdout_tail
    assert not result.ok and result.failure.startswith("network attempt")
    assert f"unix socket {path}" in result.failure


def test_udp_is_blocked_and_recorded_even_past_the_python_guard(tmp_path):
    result = step(
        tmp_path,
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.socket(2, 2, 0)  # AF_INET, SOCK_DGRAM, straight to the C library
        print("FD", fd, ctypes.get_errno())
    """,
    )
    assert "FD -1 1" in result.stdout_tail  # EPERM
    assert not result.ok
    assert result.failure == "network attempt (blocked): socket(AF_INET, SOCK_DGRAM)"


def test_dns_is_blocked_and_the_name_recorded(tmp_path):
    result = step(
        tmp_path,
        """
        import socket
        try:
            print(socket.getaddrinfo("exfiltrate.example.org", 53))
        except OSError as error:
            print("BLOCKED", error)
    """,
    )
    assert "BLOCKED" in result.stdout_tail
    assert not result.ok and "dns exfiltrate.example.org" in result.failure


def test_a_tcp_connection_to_the_host_is_blocked_and_recorded(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        result = step(
            tmp_path,
            f"""
            import _socket
            s = _socket.socket()
            s.connect(("127.0.0.1", {port}))
        """,
        )
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()
    assert not result.ok and result.failure.startswith("network attempt (blocked)")
    assert "socket(AF_INET, SOCK_STREAM)" in result.failure


def test_a_nested_user_namespace_is_refused_and_recorded(tmp_path):
    result = step(
        tmp_path,
        """
        import subprocess
        done = subprocess.run(["unshare", "-Ur", "id"], capture_output=True, text=True)
        print("UNSHARE", done.returncode, done.stdout.strip())
    """,
    )
    assert "uid=0" not in result.stdout_tail
    assert not result.ok
    assert result.failure == "forbidden system call (blocked): unshare(CLONE_NEWUSER)"


def test_a_fork_bomb_stops_at_the_process_ceiling(tmp_path):
    result = step(
        tmp_path,
        """
        import os, time
        children = 0
        try:
            while children < 5000:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                children += 1
        finally:
            print("CHILDREN", children, flush=True)
    """,
        Limits(wall_seconds=60, processes=40),
    )
    started = int(result.stdout_tail.split("CHILDREN ")[1].split()[0])
    assert started < 40
    assert not result.ok and result.failure == "process limit of 40 reached"
    assert result.wall_seconds < 30, "the sandbox ends with its processes"


def test_writing_past_the_cap_fails_at_the_cap(tmp_path):
    limits = Limits(wall_seconds=60, write_bytes=8 * 1024**2, write_files=100)
    with Workspace(tmp_path / "space", limits) as space:
        assert space.mounted, "a tmpfs run directory needs root"
        result = run(
            script(
                tmp_path,
                """
            with open("big.bin", "wb") as handle:
                for _ in range(64):
                    handle.write(b"x" * 1024 * 1024)
        """,
            ),
            space.path,
            mounts=code(tmp_path),
            limits=limits,
            workspace=space,
        )
        assert sum(p.stat().st_size for p in space.path.rglob("*")) <= 8 * 1024**2
    assert not result.ok and result.failure == "wrote past the cap of 8,388,608 bytes"
    assert result.isolation["write_cap"]


def test_too_many_files_fail_at_the_cap(tmp_path):
    limits = Limits(wall_seconds=60, write_files=50)
    with Workspace(tmp_path / "space", limits) as space:
        result = run(
            script(tmp_path, "for i in range(500):\n    open(f'f{i}', 'w').write('x')\n"),
            space.path,
            mounts=code(tmp_path),
            limits=limits,
            workspace=space,
        )
    assert not result.ok and result.failure == "wrote past the cap of 50 files"


def test_memory_past_the_ceiling_fails_with_the_reason(tmp_path):
    result = step(
        tmp_path,
        "blob = bytearray(1536 * 1024 * 1024)\nprint(len(blob))",
        Limits(wall_seconds=60, memory_bytes=512 * 1024**2),
    )
    assert not result.ok and result.failure == "memory limit of 0.5 GiB reached"


def test_the_team_cannot_write_outside_its_run_directory(tmp_path):
    Path("/tmp/left-behind").unlink(missing_ok=True)
    release = tmp_path / "release"
    release.mkdir()
    (release / "labels.csv").write_text("exam_id,label\n")
    release.chmod(0o777)  # even a world-writable input is read-only inside
    (release / "labels.csv").chmod(0o666)
    limits = Limits(wall_seconds=60)
    with Workspace(tmp_path / "space", limits) as space:
        result = run(
            script(
                tmp_path,
                f"""
            import os
            targets = ["{{release}}/labels.csv", "{{release}}/new.txt", "{{code}}/team.py",
                       {str(tmp_path / "beside-the-run.txt")!r}, "/usr/new.txt"]
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
            space.path,
            mounts={**code(tmp_path), "release": release},
            limits=limits,
            workspace=space,
        )
        assert (space.path / "inside.txt").read_text() == "ok"
    assert result.ok, result.stderr_tail
    assert "WROTE" not in result.stdout_tail and result.stdout_tail.count("DENIED") == 5
    assert (release / "labels.csv").read_text() == "exam_id,label\n"
    assert not (release / "new.txt").exists() and not (tmp_path / "beside-the-run.txt").exists()
    assert "CWD /run/portal-sandbox/run" in result.stdout_tail, "the same path on every machine"
    assert not Path("/tmp/left-behind").exists(), "/tmp is private to the run"
    assert all(result.isolation.values()), result.isolation


def test_a_composed_view_shows_only_what_it_lists(tmp_path):
    release = tmp_path / "release"
    (release / "metadata").mkdir(parents=True)
    (release / "metadata" / "labels.csv").write_text("exam_id,label\nE1,pathological\n")
    (release / "metadata" / "splits.csv").write_text("exam_id,split\nE1,private_test\n")
    filtered = tmp_path / "filtered-labels.csv"
    filtered.write_text("exam_id,label\nE1,\n")
    result = run(
        [
            *script(
                tmp_path,
                """
            import os, sys
            print("FILES", sorted(os.listdir(f"{sys.argv[1]}/metadata")))
            print("LABELS", open(f"{sys.argv[1]}/metadata/labels.csv").read().replace("\\n", "|"))
        """,
            ),
            "{release}",
        ],
        tmp_path / "run",
        mounts={
            **code(tmp_path),
            "release": {
                "metadata/labels.csv": filtered,
                "metadata/splits.csv": release / "metadata" / "splits.csv",
            },
        },
        limits=Limits(wall_seconds=60),
    )
    assert result.ok, result.stderr_tail
    assert "LABELS exam_id,label|E1,|" in result.stdout_tail
    assert "pathological" not in result.stdout_tail


def test_links_and_special_files_left_by_the_team_are_never_read(tmp_path, secret):
    path, token = secret
    space = tmp_path / "space"
    (space / "model").mkdir(parents=True)
    (space / "predictions").mkdir()
    (space / "explanations").mkdir()
    (space / "model" / "x").symlink_to(path)
    (space / "predictions" / "private_test.csv").symlink_to("/etc/passwd")
    (space / "explanations" / "a.npz").write_bytes(b"npz")
    os.link(space / "explanations" / "a.npz", space / "explanations" / "b.npz")
    os.mkfifo(space / "model" / "pipe")
    (space / "model" / "weights.bin").write_bytes(b"w" * 100)
    (space / "model" / "huge.bin").write_bytes(b"h" * 5000)
    kept = harvest(space, tmp_path / "kept", Caps(bytes=10_000, files=100, file_bytes=1000))
    assert kept.copied == ["model/weights.bin"]
    assert sorted(kept.findings) == [
        "explanations/a.npz: a hard link (2 names for one file), not read",
        "explanations/b.npz: a hard link (2 names for one file), not read",
        "model/huge.bin: 5,000 bytes, over the cap of 1,000 bytes per file and 10,000 bytes "
        "in all; not read",
        "model/pipe: a FIFO, not followed or read",
        "model/x: a symbolic link, not followed or read",
        "predictions/private_test.csv: a symbolic link, not followed or read",
    ]
    copied = "".join(p.read_text() for p in (tmp_path / "kept").rglob("*") if p.is_file())
    assert token not in copied and "root:" not in copied


def test_steps_side_by_side_are_measured_each_on_its_own(tmp_path):
    """`portal reproduce` runs a team's repeat beside its hardware check: a step's CPU time
    is its own, never that of a step that ended in another thread meanwhile."""
    import threading

    busy = """
        import time
        end = time.process_time() + 1.5
        while time.process_time() < end:
            pass
    """
    # the idle step waits (at most a minute) for the host to say the busy one is over
    idle = """
        import os, time
        done = os.path.join(os.path.dirname(__file__), "done")
        end = time.time() + 60
        while not os.path.exists(done) and time.time() < end:
            time.sleep(0.1)
    """
    results = {}

    def one(name: str, body: str) -> None:
        (tmp_path / name).mkdir()
        results[name] = step(tmp_path / name, body)

    threads = {
        name: threading.Thread(target=one, args=(name, body))
        for name, body in [("busy", busy), ("idle", idle)]
    }
    for thread in threads.values():
        thread.start()
    threads["busy"].join()
    (tmp_path / "idle" / "code" / "done").write_text("")
    threads["idle"].join()
    assert results["busy"].ok and results["idle"].ok
    assert results["busy"].cpu_seconds >= 1.4, results["busy"].to_dict()
    assert results["idle"].wall_seconds < 60, "the idle step never saw the host's word"
    assert results["idle"].cpu_seconds < 1.0, "the busy step's time was counted as the idle one's"


def test_stop_running_ends_the_steps_of_other_threads(tmp_path):
    import threading
    import time

    from portal.reproduce import sandbox

    results = []
    thread = threading.Thread(
        target=lambda: results.append(step(tmp_path, "import time\ntime.sleep(50)"))
    )
    started = time.monotonic()
    thread.start()
    while not sandbox._RUNNING and time.monotonic() - started < 20:
        time.sleep(0.05)
    time.sleep(0.5)
    sandbox.stop_running()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not results[0].ok and time.monotonic() - started < 30
    assert not sandbox._RUNNING
