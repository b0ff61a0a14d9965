"""Run a team's command in isolation: no network, limited resources, writes confined.

Where the machine allows it (root), the command runs in new mount and network
namespaces (``unshare``): the network has no interface up; the run directory
and the read-only inputs (``mounts``: the release, the team's code, its
environment) are bound under one fixed root, ``/run/portal-sandbox/<name>``,
so the paths a team sees are the same on every machine and every run;
``/tmp``, ``/var/tmp`` and ``/dev/shm`` are private tmpfs that vanish with the
run; and the process drops to an unprivileged user (``setpriv``) who can write
only its run directory. Everywhere, the
environment is scrubbed, CPU time, memory and process counts are limited
(rlimits), the wall clock is enforced on the whole process group, and a
``sitecustomize`` guard records and refuses any socket connection, so a
network attempt is reported as such, not as a mere crash. The run record says
which protections were in force.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

NOBODY = 65534
SANDBOX_ROOT = Path("/run/portal-sandbox")
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
GUARD_DIR = ".portal-guard"
NETWORK_LOG = "network-attempts.log"
TAIL = 4000

_GUARD = '''\
"""Installed by the portal: record and refuse network connections from team code."""
import os, socket

_LOG = os.environ.get("PORTAL_NETWORK_LOG")


def _refuse(self, address, *args, **kwargs):
    if _LOG:
        with open(_LOG, "a") as handle:
            handle.write(f"{address}\\n")
    raise PermissionError(f"network access is disabled in reproduction runs ({address})")


socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
'''


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 3600
    memory_bytes: int = 8 * 1024**3
    wall_seconds: float = 3600.0
    processes: int = 256


@dataclass
class RunResult:
    """What happened to one sandboxed command."""

    command: list[str]
    returncode: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    timed_out: bool
    limit: str | None  # "cpu", "memory" or None
    network_attempts: list[str]
    isolation: dict[str, bool]
    stdout_tail: str = ""
    stderr_tail: str = ""
    failure: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict:
        return asdict(self)


def namespaces_available() -> bool:
    """Whether ``unshare`` can give this process private mount and network namespaces."""
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        return False
    try:
        done = subprocess.run(
            ["unshare", "--mount", "--net", "true"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and os.geteuid() == 0


def _limits(limits: Limits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def places(run_dir: Path, mounts: dict[str, Path], isolate: bool) -> dict[str, str]:
    """What ``{run}`` and each ``{mount}`` placeholder stands for in a command."""
    if isolate:
        return {name: str(SANDBOX_ROOT / name) for name in ["run", *mounts]}
    return {"run": str(run_dir), **{name: str(Path(p).resolve()) for name, p in mounts.items()}}


def _fill(text: str, where: dict[str, str]) -> str:
    for name, path in where.items():
        text = text.replace("{" + name + "}", path)
    return text


def run(
    command: list[str],
    run_dir: Path,
    *,
    mounts: dict[str, Path] | None = None,
    env: dict[str, str] | None = None,
    limits: Limits = Limits(),
    isolate: bool | None = None,
    log: Path | None = None,
) -> RunResult:
    """Run ``command`` with ``run_dir`` as its working (and only writable) directory.

    ``mounts`` names the read-only inputs; ``{run}`` and ``{<name>}`` in the
    command and in ``env`` values are replaced by where they are seen from inside.
    ``log``, when given, receives the command's whole output (the record keeps tails).
    """
    mounts = {name: Path(p).resolve() for name, p in (mounts or {}).items()}
    if "run" in mounts:
        raise ValueError("'run' is the run directory; name the mount otherwise")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    guard = run_dir / GUARD_DIR
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_GUARD)
    network_log = run_dir / NETWORK_LOG
    network_log.unlink(missing_ok=True)
    isolate = namespaces_available() if isolate is None else isolate
    private: list[str] = []
    where = places(run_dir, mounts, isolate)
    inside = where["run"]

    scrubbed = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": inside,
        "TMPDIR": f"{inside}/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{inside}/{GUARD_DIR}",
        "PYTHONHASHSEED": "0",
        "PORTAL_NETWORK_LOG": f"{inside}/{NETWORK_LOG}",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        **{key: _fill(value, where) for key, value in (env or {}).items()},
    }
    (run_dir / "tmp").mkdir(exist_ok=True)
    full = [_fill(part, where) for part in command]
    if isolate:
        for path in [run_dir, *run_dir.rglob("*")]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        SANDBOX_ROOT.mkdir(parents=True, exist_ok=True)
        private = [p for p in TEMP_DIRS if Path(p).is_dir()]
        steps = [
            f"mount -t tmpfs -o size=1m,mode=755 portal-sandbox {SANDBOX_ROOT}",
            f"mkdir {inside}",
            f"mount --bind {_quote(str(run_dir))} {inside}",
        ]
        for name, source in mounts.items():
            target = _quote(where[name])
            steps += [
                f"mkdir {target}",
                f"mount --bind {_quote(str(source))} {target}",
                f"mount -o remount,bind,ro {target}",
            ]
        # after the binds, so a run or an input that lives under /tmp stays reachable
        steps += [f"mount -t tmpfs -o size=512m none {p}" for p in private]
        steps.append(f"cd {inside}")
        inner = " ".join(_quote(c) for c in full)
        full = [
            "unshare",
            "--mount",
            "--net",
            "--fork",
            "sh",
            "-c",
            " && ".join(steps)
            + f" && exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- {inner}",
        ]
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(
        full,
        cwd=run_dir,
        env=scrubbed,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_limits(limits),
        start_new_session=True,
    )
    timed_out = False
    try:
        stdout, stderr = process.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_bytes(
            b"$ "
            + " ".join(command).encode()
            + b"\n--- stdout ---\n"
            + stdout
            + b"\n--- stderr ---\n"
            + stderr
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    attempts = network_log.read_text().splitlines() if network_log.exists() else []
    code = process.returncode
    limit = None
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and not timed_out and cpu >= limits.cpu_seconds:
        limit = "cpu"
    elif b"MemoryError" in stderr or b"Cannot allocate memory" in stderr:
        limit = "memory"
    result = RunResult(
        command=list(command),
        returncode=code,
        wall_seconds=round(wall, 3),
        cpu_seconds=round(cpu, 3),
        peak_memory_mb=round(after.ru_maxrss / 1024, 1),
        timed_out=timed_out,
        limit=limit,
        network_attempts=attempts,
        isolation={
            "network_namespace": isolate,
            "private_tmp": isolate and "/tmp" in private,
            "read_only_inputs": isolate,
            "unprivileged_user": isolate,
            "socket_guard": True,
            "rlimits": True,
        },
        stdout_tail=stdout.decode(errors="replace")[-TAIL:],
        stderr_tail=stderr.decode(errors="replace")[-TAIL:],
    )
    result.failure = _failure(result, limits)
    return result


def _failure(result: RunResult, limits: Limits) -> str | None:
    if result.network_attempts:
        return f"network attempt: {', '.join(result.network_attempts[:3])}"
    if result.timed_out:
        return f"timeout: still running after {limits.wall_seconds:g} s (wall clock)"
    if result.limit == "cpu":
        return f"CPU time limit of {limits.cpu_seconds} s reached"
    if result.limit == "memory":
        return f"memory limit of {limits.memory_bytes / 1024**3:g} GiB reached"
    if result.returncode != 0:
        return f"exited with code {result.returncode}"
    return None


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)
