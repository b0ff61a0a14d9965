"""Release manifests: every published byte listed with its size and sha256.

A release folder carries ``manifest.json`` (files, sizes, hashes, a content
hash for the whole release, the parent version) and ``SHA256SUMS``, the same
list in the format ``sha256sum -c`` reads, so a downloader needs no portal
to check what they got. ``verify_release`` re-hashes every file and names
each one that is missing, extra or altered.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portal import atomic
from portal.errors import InputError

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
NOT_LISTED = frozenset({MANIFEST, CHECKSUMS})  # they describe the others
#: Files that describe the payload and quote its content hash: listed and hashed in the
#: manifest like any file, but outside the content hash (which they could not contain).
DESCRIPTORS = frozenset(
    {
        "README.md",
        "CHANGELOG.md",
        "changes.json",
        "croissant.json",
        "CITATION.cff",
        "datacite.json",
        "citation.bib",
    }
)
CHUNK = 1 << 20
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative, with forward slashes
    size: int
    sha256: str


@dataclass
class Manifest:
    """What a release contains; serialises to ``manifest.json``."""

    name: str
    version: str
    files: list[FileEntry]
    parent: dict[str, str] | None = None  # {"version": ..., "content_hash": ...}
    format: int = MANIFEST_FORMAT

    @property
    def content_hash(self) -> str:
        """One hash for the released content: sha256 of the sorted ``sha256  path`` lines
        of every payload file (all files but the descriptors that quote this hash)."""
        return payload_hash(self.files)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "name": self.name,
            "version": self.version,
            "content_hash": f"sha256:{self.content_hash}",
            "file_count": len(self.files),
            "total_bytes": self.total_bytes,
            "parent": self.parent,
            "files": [asdict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Manifest:
        return cls(
            name=data["name"],
            version=data["version"],
            files=[FileEntry(**f) for f in data["files"]],
            parent=data.get("parent"),
            format=data.get("format", MANIFEST_FORMAT),
        )


def payload_hash(files: Iterable[FileEntry]) -> str:
    payload = [f for f in files if f.path not in DESCRIPTORS]
    return hashlib.sha256(checksum_lines(payload).encode()).hexdigest()


def checksum_lines(files: Iterable[FileEntry]) -> str:
    return "".join(f"{f.sha256}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _listed_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in NOT_LISTED
    )


def _hash_all(
    root: Path, paths: list[Path], progress: Callable[[int], None] | None = None
) -> list[FileEntry]:
    """Hash files on a few threads (hashlib releases the GIL on large buffers)."""

    def entry(path: Path) -> FileEntry:
        value = FileEntry(path.relative_to(root).as_posix(), path.stat().st_size, sha256_file(path))
        if progress:
            progress(1)
        return value

    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        return list(pool.map(entry, paths))


def build_manifest(
    root: Path,
    *,
    name: str,
    version: str,
    parent: Manifest | None = None,
    known: Iterable[FileEntry] = (),
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Hash every file under ``root`` (except the manifest files themselves).

    ``known`` entries (just computed by the caller, for files it has not touched
    since) are reused when the size still matches, so nothing is hashed twice.
    """
    root = Path(root)
    reuse = {entry.path: entry for entry in known}
    todo, files = [], []
    for path in _listed_files(root):
        relative = path.relative_to(root).as_posix()
        entry = reuse.get(relative)
        if entry is not None and entry.size == path.stat().st_size:
            files.append(entry)
        else:
            todo.append(path)
    files = sorted(files + _hash_all(root, todo, progress), key=lambda f: f.path)
    parent_ref = None
    if parent is not None:
        parent_ref = {"version": parent.version, "content_hash": f"sha256:{parent.content_hash}"}
    return Manifest(name=name, version=version, files=files, parent=parent_ref)


def write_manifest(root: Path, manifest: Manifest, extra: dict | None = None) -> None:
    """Write ``manifest.json`` (with ``extra`` fields, if any) and ``SHA256SUMS`` into
    ``root``, each atomically."""
    root = Path(root)
    data = {**manifest.to_dict(), **(extra or {})}
    atomic.write_text(root / MANIFEST, json.dumps(data, indent=2) + "\n")
    atomic.write_text(root / CHECKSUMS, checksum_lines(manifest.files))


def read_manifest(root: Path) -> Manifest:
    path = Path(root) / MANIFEST
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise InputError(
            "no manifest.json: this is not a release folder.",
            path=root,
            hint="point at data/<challenge>/releases/<version>/ or a downloaded copy of one.",
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"manifest.json is not readable ({type(error).__name__}).",
            path=path,
            hint="download the release again; its manifest is damaged.",
        ) from None


@dataclass
class VerifyResult:
    """What ``portal verify`` found: each problem named by file."""

    root: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[dict[str, str]] = field(default_factory=list)
    content_hash: str = ""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.altered)

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def verify_release(root: Path, progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Re-hash every file of a release and compare with its manifest."""
    root = Path(root)
    manifest = read_manifest(root)
    result = VerifyResult(root=str(root), content_hash=f"sha256:{manifest.content_hash}")
    expected = {f.path: f for f in manifest.files}
    present = {p.relative_to(root).as_posix(): p for p in _listed_files(root)}
    result.missing = sorted(set(expected) - set(present))
    result.extra = sorted(set(present) - set(expected))
    common = sorted(set(expected) & set(present))
    for entry in _hash_all(root, [present[p] for p in common], progress):
        want = expected[entry.path]
        result.checked += 1
        if (entry.size, entry.sha256) != (want.size, want.sha256):
            result.altered.append(
                {
                    "path": entry.path,
                    "expected": f"{want.size} bytes, sha256 {want.sha256[:16]}…",
                    "found": f"{entry.size} bytes, sha256 {entry.sha256[:16]}…",
                }
            )
    checksums = root / CHECKSUMS
    if checksums.exists() and checksums.read_text() != checksum_lines(manifest.files):
        result.altered.append(
            {"path": CHECKSUMS, "expected": "the manifest's list", "found": "a different list"}
        )
    return result
