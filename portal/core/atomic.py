"""Write files and folders so that a crash leaves the old state or the new one, never a mix.

Everything is built under a temporary name beside its target, then renamed
into place; a rename within one filesystem is atomic. A folder that replaces
another is swapped in with one ``renameat2(RENAME_EXCHANGE)`` where Linux offers
it, so no moment exists without one of the two.

Temporaries carry the ``.tmp-<pid>`` marker of the process that made them. The
next run of the command that made them removes those of processes that are no
longer alive (:func:`clean_stale`); a folder that an interrupted swap had moved
aside (``.tmp-old-<pid>``) is put back if its target is missing. Temporaries of a
process still running are left alone: it may be another run at work.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.core.workers import alive as owner_alive  # one liveness check, in the leaf module
from portal.errors import OutputExistsError

TMP_MARKER = ".tmp-"
_STALE = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<old>old-)?(?P<pid>\d+)$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def remove(path: Path) -> None:
    """Remove a file or a folder, read-only parts included; nothing if it is not there."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink(missing_ok=True)
        return
    if not path.exists():
        return

    def writable_then_retry(function, name, _info):
        parent = os.path.dirname(name)
        os.chmod(parent, stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, stat.S_IRWXU)
        function(name)

    shutil.rmtree(path, onerror=writable_then_retry)


def clean_stale(folder: Path) -> list[str]:
    """Remove the temporaries that dead processes left directly in ``folder``.

    A ``.<name>.tmp-old-<pid>`` whose ``<name>`` is missing is the previous
    version of ``<name>``, moved aside by a swap that was interrupted: it is
    renamed back. Returns the names dealt with.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    handled = []
    for entry in sorted(os.listdir(folder)):
        match = _STALE.match(entry)
        if match is None:
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and owner_alive(pid):
            continue
        stale = folder / entry
        target = folder / match["name"]
        if match["old"] and not target.exists() and not target.is_symlink():
            os.rename(stale, target)
        else:
            remove(stale)
        handled.append(entry)
    return handled


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2); False where that is not offered."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    done = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    return done == 0


@contextmanager
def atomic_dir(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces ``target`` when the block succeeds.

    If the block raises, the temporary folder is removed and ``target`` is
    untouched. An existing non-empty ``target`` is refused unless ``overwrite``.
    If the block removes the temporary folder (:func:`discard`), ``target`` is
    left as it was.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{target} already exists and is not empty.",
            hint="choose another output folder, or pass --overwrite to replace it.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target.parent)
    tmp = target.parent / f".{target.name}{TMP_MARKER}{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        remove(tmp)
        raise
    if not tmp.exists():
        return
    if target.exists() and _exchange(tmp, target):
        remove(tmp)  # it now holds the previous version
        return
    old = None
    if target.exists():
        old = target.parent / f".{target.name}{TMP_MARKER}old-{os.getpid()}"
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        remove(old)


def discard(tmp: Path) -> None:
    """Give up the folder :func:`atomic_dir` yielded: its target stays as it was."""
    remove(tmp)


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    ``durable`` also flushes to disk before the rename (survives a power cut);
    scratch files that are re-made on resume skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}{TMP_MARKER}{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_text(path: Path, text: str, *, durable: bool = True) -> None:
    write_bytes(path, text.encode("utf-8"), durable=durable)
