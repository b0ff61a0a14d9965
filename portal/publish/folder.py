"""A static mirror in a folder: ``dir:///srv/mirror`` holds ``<root>/<challenge>/<version>/``.

Each file is written under a temporary name, synced, made read-only and renamed into
place; ``.portal-publishing.json`` (the command to run again) stays until the version
is sealed, so ``portal verify`` calls an interrupted mirror incomplete, not foreign.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from portal.core import atomic
from portal.core.atomic import TMP_MARKER
from portal.errors import ConfigError
from portal.publish.target import Held, Item, Target
from portal.release.manifest import PUBLISHING, sha256_file


class FolderTarget(Target):
    """A folder mirror; what it holds is re-hashed, never trusted."""

    scheme = "dir"
    remote = False

    def __init__(self, root: Path, challenge: str, version: str) -> None:
        self.base = Path(root).expanduser().resolve() / challenge / version
        self.url = f"dir://{self.base}"

    @classmethod
    def open(cls, address: str, challenge: str, version: str, **_options) -> FolderTarget:
        if not address:
            raise ConfigError("dir:// needs a folder, e.g. dir:///srv/mirror.")
        return cls(Path(address), challenge, version)

    def listing(self) -> dict[str, Held]:
        if not self.base.exists():
            return {}
        held = {}
        for path in sorted(self.base.rglob("*")):
            if path.is_file() and TMP_MARKER not in path.name and path.name != PUBLISHING:
                held[path.relative_to(self.base).as_posix()] = Held(
                    path.stat().st_size, sha256_file(path)
                )
        return held

    def put(self, item: Item) -> None:
        dest = self.base / item.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{dest.name}{TMP_MARKER}{os.getpid()}"
        with open(item.local, "rb") as source, open(tmp, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o444)  # a published file is not edited in place
        os.replace(tmp, dest)

    def remove(self, path: str) -> None:
        (self.base / path).unlink(missing_ok=True)

    def prepare(self) -> None:
        if self.base.exists():
            for stale in self.base.rglob(f"*{TMP_MARKER}*"):
                stale.unlink(missing_ok=True)

    def begin(self, info: dict) -> None:
        atomic.write_text(self.base / PUBLISHING, json.dumps(info, indent=2) + "\n")

    def finish(self) -> None:
        (self.base / PUBLISHING).unlink(missing_ok=True)
