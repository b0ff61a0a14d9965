"""One virtual environment per requirements hash: built once, reused by every run.

Environments are built on the system's Python (``/usr/bin/python3``): team
code runs as an unprivileged user, who must be able to read the interpreter,
and a Python installed under ``/root`` (pyenv, conda) would not be. A build
happens in a temporary folder renamed into place when complete, under a lock,
so an interrupted or concurrent build never leaves a half environment behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from portal.core.atomic import TMP_MARKER
from portal.errors import EnvironmentBuildError, ToolMissingError

BASE_PYTHON = os.environ.get("PORTAL_TEAM_PYTHON", "/usr/bin/python3")
COMPLETE = ".complete"
FREEZE = "freeze.txt"

_FREEZE = (
    "import importlib.metadata as m\n"
    "rows = sorted({f'{d.metadata[\"Name\"]}=={d.version}' for d in m.distributions()}, "
    "key=str.lower)\n"
    "print('\\n'.join(rows))\n"
)


@dataclass(frozen=True)
class Environment:
    path: Path
    requirements_hash: str
    reused: bool

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def freeze(self) -> str:
        return (self.path / FREEZE).read_text()


def requirements_hash(requirements: Path) -> str:
    """Hash of the pinned lines (comments and blank lines do not count)."""
    lines = [
        line.split("#", 1)[0].strip() for line in Path(requirements).read_text("utf-8").splitlines()
    ]
    canonical = "\n".join(sorted(line.lower() for line in lines if line))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# One requirement a line, ``name==version`` with optional extras and environment marker:
# no option (an index, a find-links, another file), no URL, no path, no editable checkout.
_PINNED = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,\s-]*\])?\s*==\s*[A-Za-z0-9.+!_-]+"
    r"(\s*;\s*[^;@-]*)?(\s+--hash=sha256:[0-9a-f]{64})*$"
)


def unpinned(requirements: Path) -> list[str]:
    """The lines that are not one package pinned to one version (team files are hostile:
    an ``--index-url`` or a URL would let them choose what the portal downloads)."""
    lines = [ln.split("#", 1)[0].strip() for ln in Path(requirements).read_text().splitlines()]
    return [line for line in lines if line and not _PINNED.match(line)]


def cache_dir(root: Path) -> Path:
    return Path(os.environ.get("PORTAL_ENV_CACHE", Path(root) / ".portal-envs")).resolve()


def ensure(requirements: Path, cache: Path) -> Environment:
    """The environment for ``requirements``: reused when built, else built now."""
    requirements = Path(requirements)
    loose = unpinned(requirements)
    if loose:
        raise EnvironmentBuildError(
            f"{requirements}: {len(loose)} requirement(s) not pinned with ==:",
            problems=loose,
            hint="write one `name==version` a line (no option, URL or path), so every run "
            "gets the same environment from the same index.",
        )
    digest = requirements_hash(requirements)
    target = cache / digest
    if (target / COMPLETE).exists():
        return Environment(target, digest, reused=True)
    if not Path(BASE_PYTHON).exists():
        raise ToolMissingError(
            f"{BASE_PYTHON} not found: team environments are built on the system Python.",
            hint="apt-get install python3 python3-venv (make setup does it), "
            "or set PORTAL_TEAM_PYTHON to a Python every user can read.",
        )
    cache.mkdir(parents=True, exist_ok=True)
    cache.chmod(0o755)
    with (cache / f"{digest}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / COMPLETE).exists():  # built by another process meanwhile
            return Environment(target, digest, reused=True)
        tmp = cache / f".{digest}{TMP_MARKER}{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _build(requirements, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return Environment(target, digest, reused=False)


def _build(requirements: Path, folder: Path) -> None:
    _run([BASE_PYTHON, "-m", "venv", "--without-pip", str(folder)], requirements)
    python = folder / "bin" / "python"
    if requirements_hash(requirements) != requirements_hash(Path(os.devnull)):
        pip = [sys.executable, "-m", "pip", "--python", str(python), "install"]
        _run(
            # wheels only: building a source distribution runs its code, here as root
            [
                *pip,
                "--no-input",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "-q",
                "-r",
                str(requirements),
            ],
            requirements,
        )
    frozen = subprocess.run(
        [str(python), "-c", _FREEZE], capture_output=True, text=True, check=True
    ).stdout
    (folder / FREEZE).write_text(frozen)
    (folder / "requirements.txt").write_text(requirements.read_text())
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
    (folder / COMPLETE).write_text("")


def _run(command: list[str], requirements: Path) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
        raise EnvironmentBuildError(
            f"building the environment for {requirements} failed ({' '.join(command[:4])} …):",
            problems=tail,
            hint="check that every pinned version exists for Python "
            f"{sys.version_info.major}.{sys.version_info.minor} on this platform.",
        )
