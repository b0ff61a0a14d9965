"""Process pools whose processes never outlive the command that started them.

Every pool of the portal (ingest, verify, release, synth) comes from :func:`process_pool`:
a ``ProcessPoolExecutor`` on the ``forkserver`` context. The command starts one fork
server; the fork server forks the workers. When the command dies, even by ``kill -9``,
both go with it:

- the fork server runs a watchdog thread (started when the server imports this module,
  which every pool preloads first) that ends the server as soon as the command that
  started it (named by ``PORTAL_POOL_OWNER``) is no longer its parent, also when that
  happened while the server was still starting. The parent-death signal is not used for
  the server: it fires when the *thread* that started a process ends, and ingest starts
  the fork server from a short-lived thread;
- every worker asks the kernel for ``SIGKILL`` when its parent, the fork server, dies
  (``prctl(PR_SET_PDEATHSIG)``), and exits at once if that already happened.

On systems without ``prctl`` (not Linux) the workers end when they next read their
queue, as plain multiprocessing does.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL = 0.05  # seconds between the fork server's looks at its parent
# the modules every fork server imports before it forks anything
PRELOAD = ("portal.core.workers",)
OWNER = "PORTAL_POOL_OWNER"  # the pid of the command, for its fork server's watchdog


def process_pool(
    workers: int,
    *,
    initializer: Callable[..., object] | None = None,
    initargs: tuple = (),
    preload: Iterable[str] = (),
) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that die with this one.

    ``preload`` names modules the fork server imports once, so that workers start with
    them loaded (it only counts for the first pool of a process: the server then runs).
    """
    context = mp.get_context("forkserver")
    os.environ[OWNER] = str(os.getpid())  # the fork server, started next, inherits it
    context.set_forkserver_preload([*PRELOAD, *(m for m in preload if m not in PRELOAD)])
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


def start_server(preload: Iterable[str] = ()) -> None:
    """Start the fork server now, from a thread, with ``preload`` as :func:`process_pool`
    would: its imports (the portal, pydicom, numpy: about a second of processor time)
    then overlap what the command does before its first pool, on another processor."""
    context = mp.get_context("forkserver")
    os.environ[OWNER] = str(os.getpid())
    context.set_forkserver_preload([*PRELOAD, *(m for m in preload if m not in PRELOAD)])
    from multiprocessing import forkserver

    threading.Thread(target=forkserver.ensure_running, daemon=True, name="forkserver").start()


def die_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when its parent ends; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _start_worker(owner: int, initializer: Callable[..., object] | None, initargs: tuple):
    """Run in each worker before its first task."""
    parent = os.getppid()
    die_with_parent()
    # the fork server (or the command) may have died before the kernel was asked
    if os.getppid() != parent or parent == 1 or not alive(owner):
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


def _watch(parent: int) -> None:
    while os.getppid() == parent and alive(parent):
        time.sleep(WATCH_INTERVAL)
    os._exit(0)  # the workers' parent-death signal then ends them too


def _in_fork_server() -> bool:
    """True while the fork server imports its preload modules (this one among them)."""
    forkserver = sys.modules.get("multiprocessing.forkserver")
    if forkserver is None:
        return False
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code is forkserver.main.__code__:
            return True
        frame = frame.f_back
    return False


def _owner() -> int:
    """The command this fork server serves: its parent when it started."""
    try:
        return int(os.environ.get(OWNER, ""))
    except ValueError:
        return os.getppid()


if _in_fork_server():
    threading.Thread(target=_watch, args=(_owner(),), daemon=True, name="watchdog").start()
