"""Write files and folders so that a crash leaves the old state or the new one, never a mix.

Everything is built under a temporary name beside its target, then renamed
into place; a rename within one filesystem is atomic. Leftovers of an
interrupted run carry the ``.tmp-`` marker and are removed by the next run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.errors import OutputExistsError

TMP_MARKER = ".tmp-"


def _clean_stale(target: Path) -> None:
    """Remove temporaries an interrupted run left beside ``target``."""
    if not target.parent.exists():
        return
    for stale in target.parent.glob(f".{target.name}{TMP_MARKER}*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder that replaces ``target`` when the block succeeds.

    If the block raises, the temporary folder is removed and ``target`` is
    untouched. An existing non-empty ``target`` is refused unless ``overwrite``.
    """
    target = Path(target)
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{target} already exists and is not empty.",
            hint="choose another output folder, or pass --overwrite to replace it.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(target)
    tmp = target.parent / f".{target.name}{TMP_MARKER}{os.getpid()}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}{TMP_MARKER}old-{os.getpid()}"
        target.rename(old)
    tmp.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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
