"""Run a team's command in isolation: Debian's ``bubblewrap`` with a minimal root.

Team code is hostile until proven otherwise. Each step runs as the unprivileged
user ``nobody`` inside ``bwrap`` with every namespace new (user, mount, PID,
network, IPC, UTS, cgroup) and nested user namespaces disabled. What it sees:

- the system's runtime, read-only: ``/usr`` (and the ``/bin``, ``/lib``… links into
  it), the dynamic linker's cache, a two-line ``/etc/passwd``, the CPU topology;
- its inputs, read-only, under one fixed root ``/run/portal-sandbox/<name>``: its
  code, its environment, the release view it is given (``mounts``);
- its run directory ``/run/portal-sandbox/run``, the only writable place besides a
  private ``/tmp``, ``/var/tmp`` and ``/dev/shm``;
- its own ``/proc`` (its processes only) and a minimal ``/dev``; no network
  interface but a down loopback.

A system-call filter (:mod:`portal.reproduce.seccomp`) installed by a launcher inside the
sandbox hands every forbidden attempt (a non-local socket, a namespace) to a
supervisor thread here, which records it and answers ``EPERM``: the attempt is
blocked by the namespaces and named in the run record, whatever library or
language made it. A Python guard adds the host names looked up.

Limits are rlimits on every process of the step (CPU time, address space, processes,
file size, core dumps), a wall clock on the whole sandbox, and, where this machine
lets the portal create control groups, a memory and process ceiling on the step as
a whole. The run directory itself is a size- and inode-limited ``tmpfs`` when the
portal runs as root (:class:`Workspace`), so writing past the cap fails at the cap.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import resource
import select
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portal.errors import ToolMissingError
from portal.reproduce import seccomp
from portal.reproduce.numerics import PORTABLE
from portal.reproduce.numerics import environment as numerical_environment

NOBODY = 65534
SANDBOX_ROOT = Path("/run/portal-sandbox")
STAGE = "/run/portal-stage"  # where root binds the inputs for bwrap, in a private namespace
SUPPORT = Path(__file__).parent / "in_sandbox"
ATTEMPT_MARK = "portal-sandbox: network attempt: "
TAIL = 4000
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime")
CPU_TOPOLOGY = Path("/sys/devices/system/cpu")

# struct seccomp_notif is 80 bytes, seccomp_notif_resp 24: _IOWR('!', 0|1, …)
NOTIF_RECV = 0xC0502100
NOTIF_SEND = 0xC0182101
FAMILIES = {2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET", 4: "AF_IPX"}
TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"}


@dataclass(frozen=True)
class Limits:
    """What one step may use; the organiser's ceiling bounds every team's request."""

    cpu_seconds: int = 3600
    memory_bytes: int = 8 * 1024**3
    wall_seconds: float = 3600.0
    processes: int = 256
    write_bytes: int = 2 * 1024**3
    write_files: int = 20_000


@dataclass
class RunResult:
    """What happened to one sandboxed command."""

    command: list[str]
    returncode: int | None
    wall_seconds: float
    cpu_seconds: float
    peak_memory_mb: float
    timed_out: bool
    limit: str | None  # "cpu", "memory", "processes", "output" or None
    network_attempts: list[str]
    isolation: dict[str, bool]
    stdout_tail: str = ""
    stderr_tail: str = ""
    forbidden_calls: list[str] = field(default_factory=list)
    failure: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict:
        return asdict(self)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


@functools.cache
def namespaces_available() -> bool:
    """Whether ``bwrap`` can build the sandbox here (installed, user namespaces allowed)."""
    tool = bwrap_path()
    if tool is None or not Path("/usr/bin/python3").exists():
        return False
    links = [
        part
        for name in MERGED_USR
        if (Path("/") / name).is_symlink()
        for part in ("--symlink", os.readlink(Path("/") / name), f"/{name}")
    ]
    probe = [tool, "--unshare-all", "--unshare-user", "--ro-bind", "/usr", "/usr", *links]
    try:
        done = subprocess.run([*probe, "/usr/bin/true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def places(run_dir: Path, mounts: dict, isolate: bool) -> dict[str, str]:
    """What ``{run}`` and each ``{mount}`` placeholder stands for in a command."""
    if isolate:
        return {name: str(SANDBOX_ROOT / name) for name in ["run", *mounts]}
    return {"run": str(run_dir), **{name: str(Path(p).resolve()) for name, p in mounts.items()}}


def _fill(text: str, where: dict[str, str]) -> str:
    for name, path in where.items():
        text = text.replace("{" + name + "}", path)
    return text


# -- steps running now ----------------------------------------------------------------------
_RUNNING: set[int] = set()  # the process groups of the steps running now, in any thread
_RUNNING_LOCK = threading.Lock()


def stop_running() -> None:
    """Kill every step this process is running (in any thread): what an interrupted
    ``portal reproduce`` does to the attempts it ran side by side."""
    with _RUNNING_LOCK:
        groups = list(_RUNNING)
    for group in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


# -- the run directory ----------------------------------------------------------------------
class Workspace:
    """The run directory of one attempt: a ``tmpfs`` capped in bytes and files when the
    portal may mount one (root), else a plain folder whose size is checked after each
    step. Steps of one attempt share it (``train`` leaves the model ``predict`` reads)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = Path(path)
        self.limits = limits
        self.mounted = False

    def __enter__(self) -> Workspace:
        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0 and shutil.which("mount"):
            options = (
                f"size={self.limits.write_bytes},nr_inodes={self.limits.write_files + 64},"
                f"mode=0700,uid={NOBODY},gid={NOBODY},nosuid,nodev"
            )
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, f"portal-run-{os.getpid()}", self.path],
                capture_output=True,
            )
            self.mounted = done.returncode == 0
        if not self.mounted and os.geteuid() == 0:
            os.chown(self.path, NOBODY, NOBODY)
        return self

    def over_cap(self) -> str | None:
        """Why the run directory is full, or None."""
        if self.mounted:
            fs = os.statvfs(self.path)
            if fs.f_bavail == 0:
                return f"wrote past the cap of {self.limits.write_bytes:,} bytes"
            if fs.f_favail == 0:
                return f"wrote past the cap of {self.limits.write_files:,} files"
            return None
        total = files = 0
        for folder, dirs, names in os.walk(self.path):
            for name in names:
                with suppress(OSError):
                    total += os.lstat(os.path.join(folder, name)).st_size
            files += len(names) + len(dirs)
        if total > self.limits.write_bytes:
            return f"wrote past the cap of {self.limits.write_bytes:,} bytes"
        if files > self.limits.write_files:
            return f"wrote past the cap of {self.limits.write_files:,} files"
        return None

    def __exit__(self, *exc) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", self.path], capture_output=True)
            self.mounted = False
        shutil.rmtree(self.path, ignore_errors=True)


def release_stale_workspaces() -> None:
    """Unmount run directories left mounted by a portal process that was killed."""
    if os.geteuid() != 0:
        return
    with suppress(OSError), open("/proc/self/mountinfo") as handle:
        lines = handle.read().splitlines()
    for line in lines:
        fields = line.split(" - ")
        if len(fields) != 2 or not fields[1].startswith("tmpfs portal-run-"):
            continue
        pid = fields[1].split()[1].removeprefix("portal-run-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            target = line.split()[4].encode().decode("unicode_escape")
            subprocess.run(["umount", "-l", target], capture_output=True)


# -- control groups (optional) --------------------------------------------------------------
class _Cgroup:
    """A memory and process ceiling on the whole step, where the portal may create one."""

    def __init__(self, limits: Limits) -> None:
        self.paths: dict[str, Path] = {}
        self.version = 0
        name = f"portal-sandbox-{os.getpid()}-{time.monotonic_ns()}"
        unified = Path("/sys/fs/cgroup/cgroup.controllers")
        try:
            if unified.exists():
                own = Path("/proc/self/cgroup").read_text().strip().split("::", 1)[-1]
                base = Path("/sys/fs/cgroup") / own.lstrip("/")
                path = base / name
                path.mkdir()
                self.paths["unified"] = path
                self.version = 2
                (path / "memory.max").write_text(str(limits.memory_bytes))
                (path / "pids.max").write_text(str(limits.processes))
                return
            for controller in ("memory", "pids"):
                root = Path("/sys/fs/cgroup") / controller
                if not root.is_dir():
                    continue
                path = root / name
                path.mkdir()
                self.paths[controller] = path
            if "memory" in self.paths:
                memory = self.paths["memory"]
                (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
                with suppress(OSError):
                    (memory / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
            if "pids" in self.paths:
                (self.paths["pids"] / "pids.max").write_text(str(limits.processes))
            accounting = Path("/sys/fs/cgroup/cpuacct")
            if self.paths and accounting.is_dir():  # processor time only: optional
                with suppress(OSError):
                    (accounting / name).mkdir()
                    self.paths["cpuacct"] = accounting / name
            self.version = 1 if self.paths else 0
        except OSError:
            self.close()

    @property
    def memory(self) -> bool:
        return "unified" in self.paths or "memory" in self.paths

    def procs_files(self) -> list[str]:
        return [str(p / "cgroup.procs") for p in self.paths.values()]

    def cpu_seconds(self) -> float | None:
        """The processor time of every process the step ran."""
        path = self.paths.get("unified")
        if path is not None:
            with suppress(OSError, ValueError):
                for line in (path / "cpu.stat").read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name == "usage_usec":
                        return int(value) / 1e6
        path = self.paths.get("cpuacct")
        if path is not None:
            with suppress(OSError, ValueError):
                return int((path / "cpuacct.usage").read_text()) / 1e9
        return None

    def peak_mb(self) -> float | None:
        for path, name in (
            (self.paths.get("unified"), "memory.peak"),
            (self.paths.get("memory"), "memory.max_usage_in_bytes"),
        ):
            if path is not None:
                with suppress(OSError, ValueError):
                    return int((path / name).read_text()) / 1024**2
        return None

    def out_of_memory(self) -> bool:
        path = self.paths.get("unified")
        if path is not None:
            with suppress(OSError):
                events = dict(
                    line.split() for line in (path / "memory.events").read_text().splitlines()
                )
                return int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
        path = self.paths.get("memory")
        if path is not None:
            with suppress(OSError, ValueError):
                if int((path / "memory.failcnt").read_text()) > 0:
                    return True
                control = (path / "memory.oom_control").read_text()
                return any(
                    line.startswith("oom_kill ") and int(line.split()[1]) > 0
                    for line in control.splitlines()
                )
        return False

    def close(self) -> None:
        for path in self.paths.values():
            procs = path / "cgroup.procs"
            with suppress(OSError):
                for pid in procs.read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)
        self.paths = {}


# -- the supervisor of the system-call filter --------------------------------------------------
def _describe(nr: int, args: tuple[int, ...]) -> tuple[str, str]:
    """(kind, words) of one forbidden call: kind is ``network`` or ``namespace``."""
    if nr in (seccomp.SOCKET, seccomp.SOCKETPAIR):
        family = FAMILIES.get(args[0] & 0xFFFF, f"family {args[0] & 0xFFFF}")
        kind = TYPES.get(args[1] & 0xF, f"type {args[1] & 0xF}")
        call = "socket" if nr == seccomp.SOCKET else "socketpair"
        return "network", f"{call}({family}, {kind})"
    names = {seccomp.UNSHARE: "unshare", seccomp.SETNS: "setns", seccomp.CLONE: "clone"}
    flags = {
        0x10000000: "CLONE_NEWUSER",
        0x40000000: "CLONE_NEWNET",
        0x20000000: "CLONE_NEWPID",
        0x00020000: "CLONE_NEWNS",
        0x08000000: "CLONE_NEWIPC",
        0x04000000: "CLONE_NEWUTS",
        0x02000000: "CLONE_NEWCGROUP",
    }
    named = "|".join(name for bit, name in flags.items() if args[0] & bit) or hex(args[0])
    return "namespace", f"{names.get(nr, f'call {nr}')}({named})"


class _Supervisor(threading.Thread):
    """Receives the filter's notifications: records each attempt, answers EPERM."""

    def __init__(self, listener: int) -> None:
        super().__init__(daemon=True)
        self.listener = listener
        self.attempts: list[tuple[str, str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        while True:
            events = poller.poll(100)
            if not events:
                if self.done.is_set():
                    break
                continue
            if any(mask & (select.POLLHUP | select.POLLERR) for _, mask in events):
                break
            buffer = bytearray(80)
            try:
                fcntl.ioctl(self.listener, NOTIF_RECV, buffer, True)
            except OSError:
                continue  # the process died before its call was read
            ident, _pid, _flags, nr, _arch, _ip, *args = struct.unpack("<QIIiIQ6Q", buffer)
            if len(self.attempts) < 1000:
                self.attempts.append(_describe(nr, tuple(args)))
            answer = bytearray(struct.pack("<QqiI", ident, 0, -errno.EPERM, 0))
            with suppress(OSError):
                fcntl.ioctl(self.listener, NOTIF_SEND, answer, True)
        os.close(self.listener)


def _support_folder() -> Path:
    """What the launcher needs inside the sandbox, in a folder ``nobody`` can read."""
    folder = Path(tempfile.mkdtemp(prefix="portal-sandbox-"))
    folder.chmod(0o755)
    for name in ("launcher.py", "sitecustomize.py"):
        shutil.copyfile(SUPPORT / name, folder / name)
    notify, kill = seccomp.program(notify=True), seccomp.program(notify=False)
    (folder / "notify.bpf").write_bytes(notify or b"")
    (folder / "kill.bpf").write_bytes(kill or b"")
    (folder / "passwd").write_text(
        f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
        f"nobody:x:{NOBODY}:{NOBODY}:nobody:{SANDBOX_ROOT / 'run'}:/usr/sbin/nologin\n"
    )
    (folder / "group").write_text(f"root:x:0:\nnogroup:x:{NOBODY}:\n")
    for path in folder.iterdir():
        path.chmod(0o444)
    return folder


def _bwrap_arguments(
    tool: str, run_dir: Path, mounts: dict, support: Path, limits: Limits, *, staged: bool
) -> list[str]:
    """The command that builds the sandbox.

    ``staged`` (root): ``bwrap`` runs as ``nobody``, who may not reach the inputs where
    they lie (a folder under ``/root``, a private temporary folder), so each input is
    first bound under ``STAGE`` in a private mount namespace of the portal's own, then
    handed to ``bwrap`` from there; nothing of it outlives the step.
    """
    steps: list[str] = []
    args = [
        tool,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid",
        str(NOBODY),
        "--gid",
        str(NOBODY),
        "--hostname",
        "sandbox",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in MERGED_USR:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{name}"]
    for name in ETC:
        if (Path("/etc") / name).exists():
            args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]

    def source(path: Path) -> str:
        if not staged:
            return str(path)
        place = f"{STAGE}/{len(steps)}"
        make = "mkdir" if path.is_dir() else "touch"
        steps.append(f"{make} {place} && mount --bind {shlex.quote(str(path))} {place}")
        return place

    args += ["--ro-bind", source(support / "passwd"), "/etc/passwd"]
    args += ["--ro-bind", source(support / "group"), "/etc/group"]
    if CPU_TOPOLOGY.is_dir():
        args += ["--ro-bind", str(CPU_TOPOLOGY), str(CPU_TOPOLOGY)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    for private in ("/tmp", "/var/tmp", "/dev/shm"):
        args += ["--size", str(min(limits.write_bytes, 512 * 1024**2)), "--tmpfs", private]
    args += ["--dir", str(SANDBOX_ROOT)]
    for name, mount in mounts.items():
        target = SANDBOX_ROOT / name
        if isinstance(mount, dict):  # a composed view: relative path -> file or folder
            made = {target}
            args += ["--dir", str(target)]
            for relative, part in sorted(mount.items()):
                for parent in reversed(Path(relative).parents[:-1]):
                    if target / parent not in made:
                        made.add(target / parent)
                        args += ["--dir", str(target / parent)]
                args += ["--ro-bind", source(Path(part)), str(target / relative)]
        else:
            args += ["--ro-bind", source(Path(mount)), str(target)]
    args += ["--ro-bind", source(support), str(SANDBOX_ROOT / ".portal")]
    args += ["--bind", source(run_dir), str(SANDBOX_ROOT / "run")]
    args += ["--remount-ro", "/", "--chdir", str(SANDBOX_ROOT / "run")]
    if not staged:
        return args
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
    script = " && ".join([f"mount -t tmpfs -o size=1m,mode=755 portal-stage {STAGE}", *steps])
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        f'{script} && exec "$@"',
        "portal-sandbox",
        *drop,
        *args,
    ]


def _preexec(limits: Limits, cgroup_procs: list[str]):
    def apply() -> None:
        for path in cgroup_procs:
            with suppress(OSError), open(path, "w") as handle:
                handle.write(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.write_bytes, limits.write_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL * 4))
        return handle.read().decode(errors="replace")[-TAIL:]


def _marked_attempts(path: Path) -> list[str]:
    """The guard's lines, read from the portal's own copy of standard error."""
    found: list[str] = []
    with path.open("rb") as handle:
        for line in handle:
            text = line.decode(errors="replace").strip()
            if text.startswith(ATTEMPT_MARK) and len(found) < 100:
                found.append(text.removeprefix(ATTEMPT_MARK)[:200])
    return found


def run(
    command: list[str],
    run_dir: Path,
    *,
    mounts: dict[str, Path | dict[str, Path]] | None = None,
    env: dict[str, str] | None = None,
    limits: Limits = Limits(),
    isolate: bool | None = None,
    log: Path | None = None,
    workspace: Workspace | None = None,
    numerics: str = PORTABLE,
) -> RunResult:
    """Run ``command`` with ``run_dir`` as its working (and only writable) directory.

    ``mounts`` names the read-only inputs (a folder, or a composed view: a mapping of
    relative paths to files and folders); ``{run}`` and ``{<name>}`` in the command and
    in ``env`` values are replaced by where they are seen from inside. ``log``, when
    given, receives the command's whole output (the record keeps tails). ``isolate``:
    None or True require the sandbox (``ToolMissingError`` without ``bwrap``); False runs
    the command bare, for development only, and the record says so. ``numerics`` is the
    numerical setting (:mod:`portal.reproduce.numerics`): ``portable`` (the default) or ``native``.
    """
    mounts = {
        name: ({k: Path(v).resolve() for k, v in p.items()} if isinstance(p, dict) else p)
        for name, p in (mounts or {}).items()
    }
    mounts = {name: (p if isinstance(p, dict) else Path(p).resolve()) for name, p in mounts.items()}
    if "run" in mounts or ".portal" in mounts:
        raise ValueError("'run' and '.portal' are reserved; name the mount otherwise")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if isolate is None or isolate:
        if not namespaces_available():
            raise ToolMissingError(
                "bubblewrap (bwrap) cannot build the sandbox on this machine: team code "
                "never runs unconfined.",
                hint="apt-get install bubblewrap (make setup does it), and allow user "
                "namespaces (sysctl kernel.unprivileged_userns_clone=1).",
            )
        isolate = True
    where = places(run_dir, mounts if isolate else {}, isolate)
    if not isolate:
        where = {"run": str(run_dir), **{n: str(p) for n, p in mounts.items()}}
    inside = where["run"]
    support = _support_folder()
    scrubbed = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": inside,
        "TMPDIR": "/tmp" if isolate else f"{inside}/tmp",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONPATH": str(SANDBOX_ROOT / ".portal") if isolate else str(support),
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLCONFIGDIR": "/tmp/matplotlib" if isolate else f"{inside}/tmp/matplotlib",
        **{key: _fill(value, where) for key, value in (env or {}).items()},
        # threads and kernel levels (portal/reproduce/numerics.py): last, so nothing overrides them
        **numerical_environment(numerics),
    }
    if not isolate:
        (run_dir / "tmp").mkdir(exist_ok=True)
    full = [_fill(part, where) for part in command]
    parent_end = child_end = None
    cgroup = _Cgroup(limits) if isolate and os.geteuid() == 0 else None
    if isolate:
        tool = bwrap_path() or "bwrap"
        staged = os.geteuid() == 0
        if staged:
            Path(STAGE).mkdir(parents=True, exist_ok=True)
        args = _bwrap_arguments(tool, run_dir, mounts, support, limits, staged=staged)
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        launcher = [
            "/usr/bin/python3",
            "-I",
            "-S",
            str(SANDBOX_ROOT / ".portal" / "launcher.py"),
            str(child_end.fileno()),
            str(SANDBOX_ROOT / ".portal" / "notify.bpf"),
            str(SANDBOX_ROOT / ".portal" / "kill.bpf"),
            "--",
        ]
        full = [*args, "--", *launcher, *full]
        if staged and (not workspace or not workspace.mounted):
            os.chown(run_dir, NOBODY, NOBODY)
    log_dir = Path(tempfile.mkdtemp(prefix="portal-step-"))
    stdout_path, stderr_path = log_dir / "stdout", log_dir / "stderr"
    start = time.perf_counter()
    supervisor: _Supervisor | None = None
    mode = "none"
    process: subprocess.Popen | None = None
    try:
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                full,
                cwd=run_dir if not isolate else "/",
                env=scrubbed,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=_preexec(limits, cgroup.procs_files() if cgroup else []),
                start_new_session=True,
                pass_fds=[child_end.fileno()] if child_end else [],
            )
        with _RUNNING_LOCK:
            _RUNNING.add(process.pid)
        if child_end is not None:
            child_end.close()
            mode, supervisor = _receive_listener(parent_end, process)
        timed_out, after = _wait(process, limits.wall_seconds)
        wall = time.perf_counter() - start
        if supervisor is not None:
            supervisor.done.set()
            supervisor.join(timeout=5)
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            with Path(log).open("wb") as handle:
                handle.write(b"$ " + " ".join(command).encode() + b"\n--- stdout ---\n")
                with stdout_path.open("rb") as part:
                    shutil.copyfileobj(part, handle)
                handle.write(b"\n--- stderr ---\n")
                with stderr_path.open("rb") as part:
                    shutil.copyfileobj(part, handle)
        cpu = after.ru_utime + after.ru_stime
        if cgroup is not None and (cgroup_cpu := cgroup.cpu_seconds()) is not None:
            cpu = max(cpu, cgroup_cpu)  # the namespaces' init reaps what rusage would miss
        stderr_tail = _tail(stderr_path)
        named = _marked_attempts(stderr_path)
        calls = supervisor.attempts if supervisor else []
        network = [words for kind, words in calls if kind == "network"]
        forbidden = [words for kind, words in calls if kind != "network"]
        code = process.returncode
        peak = round(after.ru_maxrss / 1024, 1)
        if cgroup is not None and (cgroup_peak := cgroup.peak_mb()) is not None:
            peak = round(max(peak, cgroup_peak), 1)
        limit = _limit_reached(code, timed_out, cpu, limits, stderr_tail, cgroup)
        if code == 128 + signal.SIGSYS or code == -signal.SIGSYS:
            forbidden.append("a forbidden system call ended the process (SIGSYS)")
        result = RunResult(
            command=list(command),
            returncode=code,
            wall_seconds=round(wall, 3),
            cpu_seconds=round(cpu, 3),
            peak_memory_mb=peak,
            timed_out=timed_out,
            limit=limit,
            network_attempts=[*_unique(named), *_unique(network)],
            isolation=_isolation(isolate, mode, cgroup, workspace),
            stdout_tail=_tail(stdout_path),
            stderr_tail=stderr_tail,
            forbidden_calls=_unique(forbidden),
        )
    finally:
        if process is not None:
            with _RUNNING_LOCK:
                _RUNNING.discard(process.pid)
        if cgroup is not None:
            cgroup.close()
        if parent_end is not None:
            parent_end.close()
        shutil.rmtree(support, ignore_errors=True)
        shutil.rmtree(log_dir, ignore_errors=True)
    over = workspace.over_cap() if workspace is not None else None
    result.failure = _failure(result, limits, over)
    return result


def _wait(process: subprocess.Popen, timeout: float) -> tuple[bool, resource.struct_rusage]:
    """Wait for the step's process (killing its group after ``timeout`` seconds); whether it
    timed out, and what it used: its own resource usage (``wait4``), not the portal's
    children's total, so that steps run side by side (``portal reproduce`` runs a team's
    repeat beside its hardware check) are measured and limited each on its own."""
    ended = threading.Event()
    expired = threading.Event()

    def kill() -> None:
        if not ended.is_set():
            expired.set()
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        while True:
            try:
                _pid, status, usage = os.wait4(process.pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        ended.set()
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    return expired.is_set(), usage


def _receive_listener(channel: socket.socket, process: subprocess.Popen):
    """The filter's listener, sent by the launcher; starts its supervisor."""
    channel.settimeout(30)
    try:
        message, fds, _flags, _addr = socket.recv_fds(channel, 16, 1)
    except (OSError, TimeoutError):
        return "none", None
    if message == b"notify" and fds:
        supervisor = _Supervisor(fds[0])
        supervisor.start()
        return "notify", supervisor
    for fd in fds:
        os.close(fd)
    return ("kill", None) if message == b"kill" else ("none", None)


def _unique(items: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return [f"{item} (x{n})" if n > 1 else item for item, n in counts.items()]


def _isolation(isolate: bool, mode: str, cgroup, workspace) -> dict[str, bool]:
    """Which protections held for this step (the run record shows them)."""
    return {
        "bubblewrap": isolate,
        "network_namespace": isolate,
        "pid_namespace": isolate,
        "no_nested_user_namespaces": isolate,
        "minimal_root": isolate,
        "private_tmp": isolate,
        "read_only_inputs": isolate,
        "unprivileged_user": isolate and os.geteuid() == 0,
        "syscall_filter": mode in ("notify", "kill"),
        "attempts_recorded": mode == "notify",
        "rlimits": True,
        "cgroup_memory": bool(cgroup and cgroup.memory),
        "write_cap": bool(workspace and workspace.mounted),
    }


def _limit_reached(code, timed_out, cpu, limits: Limits, stderr: str, cgroup) -> str | None:
    if timed_out:
        return None
    if code in (-signal.SIGXCPU, 128 + signal.SIGXCPU) or (
        code in (-signal.SIGKILL, 128 + signal.SIGKILL) and cpu >= limits.cpu_seconds
    ):
        return "cpu"
    if code in (-signal.SIGXFSZ, 128 + signal.SIGXFSZ) or "File too large" in stderr:
        return "output"
    if cgroup is not None and cgroup.out_of_memory():
        return "memory"
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return "memory"
    if "Resource temporarily unavailable" in stderr and "fork" in stderr.lower():
        return "processes"
    return None


def _failure(result: RunResult, limits: Limits, over_cap: str | None) -> str | None:
    if result.network_attempts:
        return f"network attempt (blocked): {'; '.join(result.network_attempts[:4])}"
    if result.forbidden_calls:
        return f"forbidden system call (blocked): {'; '.join(result.forbidden_calls[:4])}"
    if over_cap:
        return over_cap
    if result.timed_out:
        return f"timeout: still running after {limits.wall_seconds:g} s (wall clock)"
    if result.limit == "cpu":
        return f"CPU time limit of {limits.cpu_seconds} s reached"
    if result.limit == "memory":
        return f"memory limit of {limits.memory_bytes / 1024**3:g} GiB reached"
    if result.limit == "output":
        return f"wrote past the cap of {limits.write_bytes:,} bytes in one file"
    if result.limit == "processes":
        return f"process limit of {limits.processes} reached"
    if result.returncode != 0:
        return f"exited with code {result.returncode}"
    return None


@contextmanager
def workspace(path: Path, limits: Limits):
    """A :class:`Workspace` as a context manager."""
    with Workspace(path, limits) as space:
        yield space
