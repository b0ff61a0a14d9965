"""``portal release``: verified staging → an immutable, citable, checksummed release.

Layout of ``data/<challenge>/releases/<version>/``, for every kind of data::

    README.md  croissant.json             the dataset card and Croissant, of the kind
    <the kind's data files>               DICOM: portal/release/dicom.py;
                                          tables: portal/release/tabular.py
    deid_report.json       what de-identification did, and the verifier's result
    label_commitments.json                if the card embargoes a split's labels
    CITATION.cff  datacite.json  citation.bib
    CHANGELOG.md  changes.json             computed from the parent version
    manifest.json  SHA256SUMS              every file, its size and sha256

This module is the machinery every kind shares: version checks, the changelog notes,
the staging check and the independent verifier re-run (asked of the kind's release
part), label commitments for withheld splits, the atomic build folder, the manifest
and its seal, the citations, read-only files, and the idempotence of a published
version. The card's ``data_kind`` chooses the release part
(``portal/release/modalities.py``, the interface in ``portal/core/modality.py``): what
data files and dataset card are written and what a diff between versions compares.

The release is built in a temporary folder, checked against its own manifest,
made read-only, then renamed into place. A published version never changes: building
it again with the same content is a no-op, with other content it is refused, and a
version lower than the latest published one is refused too. Released files share no
inode with staging (a copy, or a reflink where the file system offers one), so no
change made elsewhere can reach them, and they are written read-only (files 0444,
folders 0555).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from portal import __version__
from portal.core import atomic
from portal.errors import InputError, OutputExistsError, VerificationError, VersionError
from portal.release.cards import Card
from portal.release.citation import bibtex, citation_cff, datacite
from portal.release.commitment import FILE as COMMITMENTS
from portal.release.commitment import commitments, policies_at
from portal.release.context import ReleaseContext
from portal.release.manifest import (
    DESCRIPTORS,
    PLACEHOLDER,
    Manifest,
    build_manifest,
    payload_hash,
    read_manifest,
    seal,
    write_manifest,
)
from portal.release.versions import check_version, next_version, parse_version, published_versions


@dataclass(frozen=True)
class ReleaseSummary:
    path: Path
    version: str
    content_hash: str
    files: int
    bytes: int
    #: records per split (exams, surgeries...: ``unit`` names them)
    exams: dict[str, int]
    changes: dict
    already_published: bool = False
    unit: str = "exams"


def check_increasing(releases: Path, challenge: str, version: str) -> None:
    """Refuse a new version that is not above every published one."""
    published = published_versions(releases)
    if version in published or not published:
        return
    latest = published[-1]
    if parse_version(version) < parse_version(latest):
        raise VersionError(
            f"version {version} of {challenge} is lower than its latest release {latest}; "
            "versions must increase.",
            hint=f"release it as {next_version(latest, 'patch')}, "
            f"{next_version(latest, 'minor')} or {next_version(latest, 'major')} (as the "
            "changes require): rename it under `releases:` in params.yaml, then run "
            f"`portal release {challenge} --version <new>`.",
        )


def _parent_of(releases: Path, version: str) -> str | None:
    older = [v for v in published_versions(releases) if parse_version(v) < parse_version(version)]
    return older[-1] if older else None


# -- the release ----------------------------------------------------------------------------
def build_release(
    challenge: str,
    staging: Path,
    releases: Path,
    card: Card,
    *,
    version: str,
    date: str,
    notes: str,
    lower_bump_reason: str | None = None,
    export: Path | None = None,
    key: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReleaseSummary:
    """Build ``releases/<version>`` from ``staging``; see the module docstring.

    The card's ``data_kind`` chooses the release part (``portal/release/modalities.py``)
    that checks the staging and writes the data files, the dataset card and the diff;
    everything else is the same for every kind. With ``export``, the modality's
    independent verifier checks the staging against it once more before anything is
    built: a release never rests on an old verdict alone.
    """
    from portal.release.modalities import release_part

    parse_version(version)
    check_increasing(Path(releases), challenge, version)
    if not notes or not notes.strip():
        raise InputError(
            "a release needs a changelog entry.",
            hint=f"add notes for {version} under `releases:` in params.yaml.",
        )
    staging, releases = Path(staging), Path(releases)
    part = release_part(card.meta.data_kind)
    staged = part.check(staging, card)
    if export is not None:
        part.reverify(staging, Path(export), card)

    parent_version = _parent_of(releases, version)
    parent = releases / parent_version if parent_version else None
    parent_manifest = read_manifest(parent) if parent is not None else None

    target = releases / version
    existing = read_manifest(target) if (target / "manifest.json").exists() else None
    policies = policies_at(card, date)
    withheld = [s for s, policy in policies.items() if policy != "public"]
    committed, commitment_note = commitments(
        challenge,
        version,
        key,
        staged.labels,
        staged.splits,
        policies,
        parent,
        staged.commit_fields,
    )
    # the descriptors quote the content hash, which covers them: they are written with a
    # placeholder, hashed, then given the hash (manifest.seal)
    content_hash = f"sha256:{PLACEHOLDER}"
    text = ReleaseContext(
        challenge=challenge,
        card=card,
        version=version,
        date=date,
        notes=notes,
        content_hash=content_hash,
        cite=bibtex(card.meta, version, date, content_hash),
        withheld=withheld,
        synthetic=card.meta.provenance == "synthetic",  # the card says, not the key
        releases=releases,
        parent_version=parent_version,
    )

    build = releases / f".build-{version}"
    _remove_stale(build)
    with atomic.atomic_dir(build, overwrite=True) as tmp:
        written = part.write_data(
            tmp, staging, staged, card=card, withheld=withheld, text=text, progress=progress
        )
        if committed is not None:
            (tmp / COMMITMENTS).write_text(json.dumps(committed, indent=2) + "\n")

        payload = build_manifest(tmp, name=challenge, version=version)
        files = {f.path: f.sha256 for f in payload.files}
        changes = part.compare(
            parent,
            parent_version,
            {f.path: f.sha256 for f in parent_manifest.files if f.path not in DESCRIPTORS}
            if parent_manifest
            else None,
            tmp,
            staged,
            withheld,
            {p: h for p, h in files.items() if p not in DESCRIPTORS},
            card,
        )
        note = check_version(version, parent_version, changes, lower_bump_reason=lower_bump_reason)
        note = " ".join(n for n in (note, commitment_note) if n)
        text = replace(text, note=note, changes=changes, payload=payload, files=files)
        _write_descriptors(tmp, text)
        part.write_descriptors(tmp, written, text)
        final = build_manifest(
            tmp, name=challenge, version=version, parent=parent_manifest, known=payload.files
        )
        final = seal(tmp, final)
        write_manifest(
            tmp, final, {"created_by": f"portal {__version__}", "deid_key_id": staged.key_id}
        )
        _check_listing(tmp, final)
        if existing is None:
            make_read_only(tmp)
    content_hash = f"sha256:{final.content_hash}"
    if existing is not None:
        _remove_stale(build)
        legacy = existing.format < 2 and existing.content_hash == payload_hash(final.files)
        if existing.content_hash == final.content_hash or legacy:
            return ReleaseSummary(
                target,
                version,
                f"sha256:{existing.content_hash}",
                len(existing.files),
                existing.total_bytes,
                {},
                {},
                already_published=True,
                unit=staged.unit,
            )
        raise OutputExistsError(
            f"version {version} of {challenge} is already published with other content "
            f"(sha256:{existing.content_hash} there, {content_hash} now); a published "
            "version never changes.",
            hint="give the new content a new version under `releases:` in params.yaml and run "
            f"`portal release {challenge} --version <new>`; if {target} was changed by hand, "
            "restore it first (`dvc checkout`, or a copy from a mirror).",
        )
    os.replace(build, target)
    return ReleaseSummary(
        target,
        version,
        content_hash,
        len(final.files),
        final.total_bytes,
        written.counts,
        changes.to_dict(),
        unit=staged.unit,
    )


def _write_descriptors(tmp: Path, d: ReleaseContext) -> None:
    """What every release holds beside its kind's own descriptors: the citations, the
    computed diff and the changelog (the parent's entries below the new one)."""
    meta, version, date, content_hash = d.card.meta, d.version, d.date, d.content_hash
    (tmp / "CITATION.cff").write_text(citation_cff(meta, version, date, content_hash))
    (tmp / "datacite.json").write_text(
        json.dumps(
            datacite(
                meta, version, date, content_hash, d.payload.total_bytes, len(d.payload.files)
            ),
            indent=2,
            ensure_ascii=False,
        )
        + "\n"
    )
    (tmp / "citation.bib").write_text(d.cite)
    (tmp / "changes.json").write_text(json.dumps(d.changes.to_dict(), indent=2) + "\n")
    entry = d.changes.to_markdown(version, d.note)
    entry = entry.replace(f"## {version}\n", f"## {version} ({date})\n\n{d.notes.strip()}\n", 1)
    previous = ""
    parent = d.releases / d.parent_version if d.parent_version else None
    if parent is not None and (parent / "CHANGELOG.md").exists():
        previous = (parent / "CHANGELOG.md").read_text()
        previous = previous.split("\n", 2)[2] if previous.startswith("# ") else previous
    (tmp / "CHANGELOG.md").write_text(f"# Changelog of {meta.title}\n\n{entry}\n{previous}")


FILE_MODE, DIR_MODE = 0o444, 0o555


def make_read_only(root: Path) -> None:
    """Files 0444, folders 0555, the deepest first (``root`` last)."""
    for folder, dirs, names in os.walk(root, topdown=False):
        for name in names:
            os.chmod(os.path.join(folder, name), FILE_MODE, follow_symlinks=False)
        for name in dirs:
            os.chmod(os.path.join(folder, name), DIR_MODE)
    os.chmod(root, DIR_MODE)


def remove_tree(root: Path) -> None:
    """Remove a folder, read-only parts included (a failed or stale build)."""
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink() or not root.is_dir():
        root.unlink()
        return
    for folder, dirs, _names in os.walk(root):
        os.chmod(folder, stat.S_IRWXU)
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(root)


def _remove_stale(build: Path) -> None:
    """What an interrupted build left: ``.build-<v>`` and its temporaries."""
    remove_tree(build)
    for stale in build.parent.glob(f".{build.name}{atomic.TMP_MARKER}*"):
        remove_tree(stale)


FICLONE = 0x40049409  # ioctl(dest, FICLONE, source): share extents, copy-on-write


def clone_file(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target`` (its own inode): a reflink where the file
    system offers one (btrfs, XFS, ...), else an in-kernel copy, else a plain copy.
    Returns how: "reflink", "copy_file_range" or "copy"."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), FICLONE, src.fileno())
            return "reflink"
        except OSError:
            pass
        size = os.fstat(src.fileno()).st_size
        try:
            done = 0
            while done < size:
                sent = os.copy_file_range(src.fileno(), dst.fileno(), size - done)
                if sent == 0:
                    break
                done += sent
            if done == size:
                return "copy_file_range"
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
        src.seek(0)
        dst.seek(0)
        dst.truncate()
        shutil.copyfileobj(src, dst, 1 << 20)
        return "copy"


def _check_listing(folder: Path, manifest: Manifest) -> None:
    """The built folder holds exactly the manifest's files, at their sizes. (Their hashes
    were just computed from these very files; `portal verify` re-hashes for downloaders.)"""
    on_disk = {
        p.relative_to(folder).as_posix(): p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", "SHA256SUMS")
    }
    listed = {f.path: f.size for f in manifest.files}
    if on_disk != listed:
        raise VerificationError(
            f"the release does not match its own manifest ({sorted(set(on_disk) ^ set(listed))}"
            "); nothing was published.",
            hint="re-run `portal release`; report this if it happens again.",
        )
