"""Read back what team code wrote: never follow a link, never trust a type or a size.

A run directory is written by hostile code. Before the portal reads, scores, logs,
plots or publishes anything from it, :func:`harvest` copies it into a folder the
portal owns, and only regular files make the trip: each is opened without following
symbolic links, checked *after* opening (a regular file, one link, under the size
cap) and copied through that same descriptor. A symbolic link, a hard link, a
device, a FIFO or a socket, a file over the cap, or a tree too deep or too large is a
finding: it is named, nothing of its target is read, and the run fails.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 32
CHUNK = 1 << 20


@dataclass(frozen=True)
class Caps:
    """What one run directory may hold, at most."""

    bytes: int = 2 * 1024**3
    files: int = 20_000
    file_bytes: int = 2 * 1024**3


@dataclass
class Harvest:
    """What was copied and what was refused (relative paths)."""

    copied: list[str] = field(default_factory=list)
    bytes: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def harvest(source: Path, target: Path, caps: Caps = Caps(), *, skip: set[str] = frozenset()):
    """Copy the regular files of ``source`` into ``target`` (created); see the module doc.

    ``skip`` names top-level entries left behind without a finding (scratch space).
    """
    source, target = Path(source), Path(target)
    result = Harvest()
    target.mkdir(parents=True, exist_ok=True)
    root = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        _walk(root, "", target, caps, result, skip, depth=0)
    finally:
        os.close(root)
    return result


def _walk(directory: int, prefix: str, target: Path, caps: Caps, result, skip, depth: int):
    if depth > MAX_DEPTH:
        result.findings.append(f"{prefix or '.'}: nested deeper than {MAX_DEPTH} folders")
        return
    for name in sorted(os.listdir(directory)):
        relative = f"{prefix}{name}"
        if depth == 0 and name in skip:
            continue
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=directory)
            try:
                (target / relative).mkdir(exist_ok=True)
                _walk(child, f"{relative}/", target, caps, result, skip, depth + 1)
            finally:
                os.close(child)
            continue
        if not stat.S_ISREG(info.st_mode):
            result.findings.append(f"{relative}: {_kind(info.st_mode)}, not followed or read")
            continue
        if len(result.copied) >= caps.files:
            result.findings.append(f"{relative}: more than {caps.files} files written")
            return
        _copy(directory, name, relative, target, caps, result)


def _copy(directory: int, name: str, relative: str, target: Path, caps: Caps, result) -> None:
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        handle = os.open(name, flags, dir_fd=directory)
    except OSError as error:
        result.findings.append(f"{relative}: cannot be opened safely ({error.strerror})")
        return
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            result.findings.append(f"{relative}: {_kind(info.st_mode)}, not read")
            return
        if info.st_nlink != 1:
            result.findings.append(
                f"{relative}: a hard link ({info.st_nlink} names for one file), not read"
            )
            return
        if info.st_size > caps.file_bytes or result.bytes + info.st_size > caps.bytes:
            result.findings.append(
                f"{relative}: {info.st_size:,} bytes, over the cap of {caps.file_bytes:,} bytes "
                f"per file and {caps.bytes:,} bytes in all; not read"
            )
            return
        copied = 0
        out = os.open(
            target / relative, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644
        )
        try:
            while chunk := os.read(handle, CHUNK):
                copied += len(chunk)
                if copied > info.st_size:  # grew while read: someone is still writing
                    break
                os.write(out, chunk)
        finally:
            os.close(out)
        if copied != info.st_size:
            (target / relative).unlink()
            result.findings.append(f"{relative}: changed size while read back; not kept")
            return
        result.copied.append(relative)
        result.bytes += copied
    finally:
        os.close(handle)
