"""Release manifests: every published byte listed with its size and sha256.

A release folder carries ``manifest.json`` (files, sizes, hashes, the content hash of
the whole release, the parent version) and ``SHA256SUMS``, the same list plus the
manifest's own hash, in the format ``sha256sum -c`` reads, so a downloader needs no
portal to check what they got.

The **content hash** (manifest format 2) is the sha256 of the sorted ``sha256  path``
lines of every file of the release but ``manifest.json`` and ``SHA256SUMS``. The
descriptors (card, citations, changelog) quote the content hash, so their line uses the
sha256 of their bytes with that hash written as 64 zeros: they are covered like any
file, and a changed licence or citation changes the content hash. The hash is computed
from the files, never read from a list: a manifest rewritten to match altered files
no longer gives the hash it records, nor the one quoted on the site and in the
citations, which is what ``portal verify --expect`` checks.

``verify_release`` re-hashes every file and names each one that is missing, extra,
altered, a link or a special file; an altered ``manifest.json`` is named as such.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portal.core import atomic
from portal.errors import InputError, VerificationError

MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
NOT_LISTED = frozenset({MANIFEST, CHECKSUMS})  # they describe the others
#: Left in a mirror by ``portal publish`` until the manifest, written last, seals it.
PUBLISHING = ".portal-publishing.json"
#: Files that describe the payload and quote its content hash.
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
#: What descriptors quote in place of the content hash while it is computed.
PLACEHOLDER = "0" * 64
CHUNK = 1 << 20
MANIFEST_FORMAT = 2
HEX64 = re.compile(r"^[0-9a-f]{64}$")


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
    #: hex; recorded at build time (format 2), derived from the entries for format 1
    recorded_hash: str = ""

    @property
    def content_hash(self) -> str:
        """The content hash this manifest records (hex, no prefix)."""
        if self.recorded_hash:
            return self.recorded_hash
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
        fmt = data.get("format", 1)
        recorded = str(data.get("content_hash") or "").removeprefix("sha256:")
        if fmt >= 2 and not HEX64.match(recorded):
            raise ValueError("content_hash")
        return cls(
            name=data["name"],
            version=data["version"],
            files=[FileEntry(**f) for f in data["files"]],
            parent=data.get("parent"),
            format=fmt,
            recorded_hash=recorded if HEX64.match(recorded) else "",
        )


def payload_hash(files: Iterable[FileEntry]) -> str:
    """Format 1's content hash: the payload files only, descriptors left out."""
    payload = [f for f in files if f.path not in DESCRIPTORS]
    return hashlib.sha256(checksum_lines(payload).encode()).hexdigest()


def checksum_lines(files: Iterable[FileEntry]) -> str:
    return "".join(f"{f.sha256}  {f.path}\n" for f in sorted(files, key=lambda f: f.path))


def descriptor_sha256(data: bytes, content_hash: str) -> str:
    """A descriptor's hash as the content hash counts it: ``content_hash`` written as zeros."""
    return hashlib.sha256(data.replace(content_hash.encode(), PLACEHOLDER.encode())).hexdigest()


def content_hash_of(entries: Iterable[FileEntry], descriptors: dict[str, str]) -> str:
    """Format 2's content hash of ``entries``; ``descriptors`` maps each descriptor's path
    to its normalised sha256 (:func:`descriptor_sha256`)."""
    lines = [
        FileEntry(e.path, e.size, descriptors.get(e.path, e.sha256))
        for e in entries
        if e.path not in NOT_LISTED
    ]
    return hashlib.sha256(checksum_lines(lines).encode()).hexdigest()


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
    The content hash is computed from the files as they are: descriptors that quote
    :data:`PLACEHOLDER` get it with :func:`seal`.
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
    return Manifest(
        name=name,
        version=version,
        files=files,
        parent=parent_ref,
        recorded_hash=content_hash_of(files, {}),
    )


def seal(root: Path, manifest: Manifest) -> Manifest:
    """Write the content hash into the descriptors that quote :data:`PLACEHOLDER`.

    ``manifest`` was built while they quoted the placeholder, so its content hash is
    the one that covers their final bytes; their entries are re-hashed.
    """
    root = Path(root)
    value = content_hash_of(manifest.files, {})
    files = []
    for entry in manifest.files:
        if entry.path in DESCRIPTORS:
            data = (root / entry.path).read_bytes().replace(PLACEHOLDER.encode(), value.encode())
            atomic.write_bytes(root / entry.path, data, durable=False)
            entry = FileEntry(entry.path, len(data), hashlib.sha256(data).hexdigest())
        files.append(entry)
    return Manifest(
        name=manifest.name,
        version=manifest.version,
        files=files,
        parent=manifest.parent,
        recorded_hash=value,
    )


def manifest_bytes(manifest: Manifest, extra: dict | None = None) -> bytes:
    data = {**manifest.to_dict(), **(extra or {})}
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def write_manifest(root: Path, manifest: Manifest, extra: dict | None = None) -> None:
    """Write ``manifest.json`` (with ``extra`` fields, if any) and ``SHA256SUMS`` (every
    file of the manifest, then the manifest itself) into ``root``, each atomically."""
    root = Path(root)
    raw = manifest_bytes(manifest, extra)
    own = FileEntry(MANIFEST, len(raw), hashlib.sha256(raw).hexdigest())
    atomic.write_bytes(root / MANIFEST, raw)
    atomic.write_text(root / CHECKSUMS, checksum_lines([*manifest.files, own]))


def read_manifest(root: Path) -> Manifest:
    path = Path(root) / MANIFEST
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        incomplete(Path(root))
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


def incomplete(root: Path) -> None:
    """Raise if ``root`` is a release whose manifest has not arrived (or was removed)."""
    marker = root / PUBLISHING
    if marker.is_file():
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except ValueError:
            info = {}
        command = info.get("command") or "portal publish <challenge> --version <v> --to <target>"
        raise VerificationError(
            f"{root}: incomplete: a `portal publish` of "
            f"{info.get('challenge', '?')} {info.get('version', '?')} was interrupted "
            f"({_count_files(root)} of {info.get('files', '?')} files here, no manifest.json).",
            hint=f"run `{command}` again; it sends only what is missing.",
        )
    sums = root / CHECKSUMS
    if sums.is_file() and MANIFEST in _read_sums(sums.read_bytes()):
        raise VerificationError(
            f"{root}: incomplete: SHA256SUMS lists manifest.json, which is not here.",
            hint="download manifest.json too (or publish the release again); "
            "a release is checked against its manifest.",
        )


def _count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and p.name not in (PUBLISHING, MANIFEST))


def _read_sums(data: bytes) -> dict[str, str]:
    """``SHA256SUMS`` as {path: sha256}; lines that are not ``<hex>  <path>`` are skipped
    (the caller compares the whole text with what it should be)."""
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        digest, _, path = line.partition("  ")
        if not path and line[64:66] == " *":
            digest, path = line[:64], line[66:]
        if HEX64.match(digest) and path:
            out[path] = digest
    return out


@dataclass
class VerifyResult:
    """What ``portal verify`` found: each problem named by file, with full hashes."""

    root: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    altered: list[dict[str, str]] = field(default_factory=list)
    #: symlinks, hard links and special files: {"path", "kind", "detail"}
    unsafe: list[dict[str, str]] = field(default_factory=list)
    #: the manifest or SHA256SUMS altered: {"path", "detail"}
    lists: list[dict[str, str]] = field(default_factory=list)
    #: content hash problems, one sentence each
    hash_problems: list[str] = field(default_factory=list)
    #: what the files give ("sha256:<hex>")
    content_hash: str = ""
    recorded_hash: str = ""
    expected_hash: str = ""
    format: int = MANIFEST_FORMAT

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.altered
            or self.unsafe
            or self.lists
            or self.hash_problems
        )

    @property
    def anchored(self) -> bool:
        """Checked against a hash from outside the folder (``--expect``)."""
        return bool(self.expected_hash) and self.ok

    def findings(self) -> list[str]:
        """Every problem as one line, the most telling first."""
        out = [f"{item['path']} altered: {item['detail']}" for item in self.lists]
        out += [f"{u['kind']}: {u['path']} ({u['detail']})" for u in self.unsafe]
        out += [f"missing: {p}" for p in self.missing]
        out += [f"extra (not in the manifest): {p}" for p in self.extra]
        out += [
            f"altered: {a['path']} (expected {a['expected']}, found {a['found']})"
            for a in self.altered
        ]
        out += self.hash_problems
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "findings": self.findings()}


def parse_expected(text: str) -> str:
    """``sha256:<64 hex>`` (or the bare hex) → the hex; anything else is refused."""
    value = text.strip().lower().removeprefix("sha256:")
    if not HEX64.match(value):
        raise InputError(
            f"--expect {text!r} is not a content hash.",
            hint="give the whole hash as the site, CITATION.cff or DataCite print it: "
            "sha256: followed by 64 hexadecimal digits.",
        )
    return value


def _scan(root: Path, result: VerifyResult) -> dict[str, Path]:
    """Every regular file under ``root`` by relative path, without following links;
    symlinks, hard links and special files are findings."""
    files: dict[str, Path] = {}
    for folder, dirs, names in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in sorted(dirs + names):
            path = base / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                result.unsafe.append(
                    {
                        "path": relative,
                        "kind": "symlink",
                        "detail": f"points to {os.readlink(path)}; a release holds its own "
                        "bytes, never links",
                    }
                )
            elif stat.S_ISDIR(info.st_mode):
                continue
            elif not stat.S_ISREG(info.st_mode):
                result.unsafe.append(
                    {
                        "path": relative,
                        "kind": "special file",
                        "detail": f"mode {stat.filemode(info.st_mode)}; a release holds regular "
                        "files only",
                    }
                )
            elif info.st_nlink > 1:
                result.unsafe.append(
                    {
                        "path": relative,
                        "kind": "hard link",
                        "detail": f"{info.st_nlink} names share inode {info.st_ino}: a change "
                        "made through another name changes the release",
                    }
                )
                files[relative] = path
            elif name == PUBLISHING and base == root:
                continue
            else:
                files[relative] = path
    return files


def _describe(size: int, digest: str) -> str:
    return f"{size} bytes, sha256 {digest}"


def verify_release(
    root: Path,
    progress: Callable[[int], None] | None = None,
    *,
    expect: str | None = None,
) -> VerifyResult:
    """Re-hash every file of a release and compare it with its manifest, its
    ``SHA256SUMS``, the content hash the manifest records and, with ``expect``
    (``sha256:<hex>``, found outside the folder), the published content hash."""
    root = Path(root)
    wanted = parse_expected(expect) if expect else ""
    if not (root / MANIFEST).is_file() and not (root / MANIFEST).is_symlink():
        read_manifest(root)  # raises: incomplete, or not a release folder
    result = VerifyResult(root=str(root), expected_hash=f"sha256:{wanted}" if wanted else "")
    present = _scan(root, result)
    unsafe_paths = {u["path"] for u in result.unsafe if u["kind"] != "hard link"}

    sums_raw = present[CHECKSUMS].read_bytes() if CHECKSUMS in present else None
    sums = _read_sums(sums_raw) if sums_raw is not None else {}
    manifest_raw = (root / MANIFEST).read_bytes() if MANIFEST in present else b""
    manifest_sha = hashlib.sha256(manifest_raw).hexdigest()
    manifest_altered = False
    if MANIFEST in sums and sums[MANIFEST] != manifest_sha:
        manifest_altered = True
        result.lists.append(
            {
                "path": MANIFEST,
                "detail": f"SHA256SUMS gives sha256 {sums[MANIFEST]}, the file has sha256 "
                f"{manifest_sha}",
            }
        )
    try:
        manifest = Manifest.from_dict(json.loads(manifest_raw.decode("utf-8")))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        if not manifest_altered:
            result.lists.append(
                {"path": MANIFEST, "detail": f"not a readable manifest ({type(error).__name__})"}
            )
        return result
    result.format = manifest.format
    result.recorded_hash = f"sha256:{manifest.content_hash}"
    if manifest.format >= 2 and sums_raw is None:
        result.missing.append(CHECKSUMS)
    elif manifest.format >= 2 and MANIFEST not in sums:
        result.lists.append(
            {"path": CHECKSUMS, "detail": "it does not list manifest.json with its sha256"}
        )

    expected = {f.path: f for f in manifest.files}
    payload = {p: path for p, path in present.items() if p not in NOT_LISTED}
    result.missing += sorted(set(expected) - set(payload) - unsafe_paths)
    result.extra = sorted(set(payload) - set(expected))
    found = {e.path: e for e in _hash_all(root, list(payload.values()), progress)}
    result.checked = len(found)
    for path in sorted(set(expected) & set(found)):
        want, have = expected[path], found[path]
        if (want.size, want.sha256) == (have.size, have.sha256):
            continue
        if manifest_altered and sums.get(path) == have.sha256:
            result.lists.append(
                {
                    "path": MANIFEST,
                    "detail": f"its entry for {path} gives {_describe(want.size, want.sha256)}; "
                    f"the file and SHA256SUMS agree on sha256 {have.sha256}",
                }
            )
            continue
        result.altered.append(
            {
                "path": path,
                "expected": _describe(want.size, want.sha256),
                "found": _describe(have.size, have.sha256),
            }
        )
    if sums_raw is not None and not manifest_altered:  # else the manifest is to blame
        own = [FileEntry(MANIFEST, len(manifest_raw), manifest_sha)] if MANIFEST in sums else []
        if sums_raw.decode("utf-8", "replace") != checksum_lines([*manifest.files, *own]):
            wrong = sorted(
                p
                for p in set(sums) | set(expected)
                if p != MANIFEST and sums.get(p) != getattr(expected.get(p), "sha256", None)
            )
            result.lists.append(
                {
                    "path": CHECKSUMS,
                    "detail": "it differs from manifest.json"
                    + (f" for {', '.join(wrong[:5])}" if wrong else " (its format)"),
                }
            )

    _check_content_hash(root, manifest, found, wanted, result)
    return result


def _files_hash(root: Path, manifest: Manifest, found: dict[str, FileEntry], claim: str) -> str:
    """The content hash the files here give, with descriptors read against ``claim``."""
    if manifest.format < 2:
        return payload_hash(found.values())
    descriptors = {
        p: descriptor_sha256((root / p).read_bytes(), claim) for p in found if p in DESCRIPTORS
    }
    return content_hash_of(found.values(), descriptors)


#: Descriptors that cite the release by its content hash.
QUOTING = ("README.md", "CITATION.cff", "datacite.json", "citation.bib", "croissant.json")


def _check_content_hash(
    root: Path, manifest: Manifest, found: dict[str, FileEntry], wanted: str, result
) -> None:
    recorded = manifest.content_hash
    if manifest.format >= 2:
        for path in QUOTING:
            if path in found and recorded.encode() not in (root / path).read_bytes():
                result.hash_problems.append(
                    f"{path} does not quote the content hash manifest.json records "
                    f"(sha256:{recorded})"
                )
    given = _files_hash(root, manifest, found, recorded)
    result.content_hash = f"sha256:{given}"
    if given != recorded:
        result.hash_problems.append(
            f"content hash: the files give sha256:{given}, manifest.json records "
            f"sha256:{recorded}" + _suspects(root, found, manifest)
        )
    if wanted:
        against = _files_hash(root, manifest, found, wanted)
        if against != wanted:
            result.content_hash = f"sha256:{against}"
            result.hash_problems.append(
                f"not the published release: the files give sha256:{against}, "
                f"expected sha256:{wanted}"
            )


def _suspects(root: Path, found: dict[str, FileEntry], manifest: Manifest) -> str:
    """Files whose hash differs from the one croissant.json (inside the content hash)
    gives: the likely culprits when manifest.json was rewritten to match them."""
    try:
        data = json.loads((root / "croissant.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    named = {
        d.get("contentUrl"): d.get("sha256")
        for d in data.get("distribution", [])
        if isinstance(d, dict) and d.get("sha256")
    }
    differ = sorted(p for p, h in named.items() if p in found and found[p].sha256 != h)
    if not differ:
        return ""
    return f" ({', '.join(differ)} differ from the hashes croissant.json gives)"
