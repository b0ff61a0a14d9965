"""Publish a release to a mirror, and record where it is: ``publications.json``.

``publish`` trusts neither side:

- the local release is re-hashed first and its content hash computed from the files:
  a release that does not give the content hash its manifest records (an altered file,
  a rewritten manifest, a link) is never published, and the hash printed is the one
  the files were found to have;
- the plan compares the manifest with what the target already holds. Identical files
  are skipped, so publishing twice uploads nothing and an interrupted publish resumes
  where it stopped; a file that differs is refused, because a published version is
  immutable (``--repair`` rewrites it only when the target's copy is the same release);
- after the upload the target is listed again and every file's size and checksum is
  compared to the manifest. Only then is the version sealed at the target: on a folder
  or a bucket ``manifest.json`` is written last, on the Hub the version tag is created
  last. A reader who finds the manifest (or the tag) finds the whole release.

Layouts: a folder or a bucket holds ``<root>/<challenge>/<version>/<path>`` (what the
site's ``downloads`` address expects); a Hub dataset repository holds one version at
a time on ``main`` and every version as a git tag. Each kind of storage is one module
behind :class:`~portal.publish.target.Target`, chosen by scheme in
:mod:`portal.publish.registry`. Credentials never pass through the portal's options,
files or output.

A verified publication is appended to ``data/<challenge>/publications.json``, which the
site reads to list the mirrors of each version.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from portal.core import atomic
from portal.errors import InputError, VerificationError
from portal.publish.registry import open_target
from portal.publish.target import Item, Plan, Progress, Target
from portal.release.manifest import (
    CHECKSUMS,
    DESCRIPTORS,
    MANIFEST,
    read_manifest,
    sha256_file,
    verify_release,
)

#: beside the releases: ``data/<challenge>/publications.json``
PUBLICATIONS = "publications.json"


#: the version of one entry of ``publications.json`` (entries written before it had none: 1)
SCHEMA_VERSION = 1


class Publication(BaseModel):
    """The outcome of one ``publish``, also appended to ``publications.json``: written
    by :func:`record` and read back by :func:`read_publications` (the site reads it)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    target: str
    challenge: str
    version: str
    content_hash: str
    files: int
    bytes: int
    uploaded: int
    uploaded_bytes: int
    skipped: int
    deleted: int
    verified: bool
    dry_run: bool
    revision: str | None = None
    seconds: float = 0.0
    at: str = ""

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def release_items(release: Path) -> tuple[list[Item], dict]:
    """Every file to send, in the order they must land: payload, descriptors, the
    checksum list, and ``manifest.json`` last (its arrival seals the version)."""
    manifest = read_manifest(release)
    raw = json.loads((release / MANIFEST).read_text())
    items = [Item(f.path, f.size, f.sha256, release / f.path) for f in manifest.files]
    items.sort(key=lambda i: (i.path in DESCRIPTORS, i.path))
    for name in (CHECKSUMS, MANIFEST):
        path = release / name
        items.append(Item(name, path.stat().st_size, sha256_file(path), path))
    return items, raw


def publications_log(release: Path) -> Path:
    """``data/<challenge>/publications.json`` for ``data/<challenge>/releases/<version>``."""
    return Path(release).parent.parent / PUBLICATIONS


def publish(
    release: Path,
    target_url: str,
    *,
    dry_run: bool = False,
    repair: bool = False,
    endpoint_url: str | None = None,
    workers: int = 8,
    progress: Progress | None = None,
    api=None,
    plan_out: Callable[[Plan], None] | None = None,
    log: Path | None = None,
) -> Publication:
    """Publish one release folder to ``target_url`` (see the module's docstring), and
    record a verified publication in ``log`` (default: :func:`publications_log`)."""
    started = time.perf_counter()
    release = Path(release)
    check = verify_release(release)
    if not check.ok:
        raise VerificationError(
            f"{release} does not give the content hash its manifest records "
            f"({check.recorded_hash or 'none'}); it is not published.",
            problems=check.findings()[:20],
            hint=f"run `portal verify {release}`, then restore the release (dvc pull or "
            "dvc checkout) before publishing.",
        )
    items, raw = release_items(release)
    # the hash the files were just found to have (equal to the manifest's, checked above)
    raw = {**raw, "content_hash": check.content_hash}
    target = open_target(
        target_url, raw["name"], raw["version"], endpoint_url=endpoint_url, workers=workers, api=api
    )
    notes = target.check(release, items)  # what the target would refuse, before contacting it
    empty = Plan(target.url, raw["name"], raw["version"], raw["content_hash"])
    plan = (target.offline_plan(empty, items, notes) if dry_run else None) or target.plan(
        empty, items, repair=repair
    )
    if plan_out:
        plan_out(plan)
    if dry_run or plan.sealed:
        verified = plan.sealed and not dry_run
        if verified:
            target.finish()  # a publish killed after the seal, before removing its mark
    else:
        command = f"portal publish {raw['name']} --version {raw['version']} --to {target_url}"
        info = {
            "challenge": raw["name"],
            "version": raw["version"],
            "content_hash": check.content_hash,
            "files": len(items),
            "command": command,
        }
        target.send(plan, progress, workers, info)
        verified = True
    publication = _publication(
        target, raw, items, plan, verified=verified, dry_run=dry_run, t0=started
    )
    if publication.verified:
        record(log or publications_log(release), publication)
    return publication


def _publication(
    target: Target, raw: dict, items: list[Item], plan: Plan, *, verified, dry_run, t0
) -> Publication:
    return Publication(
        target=target.url,
        challenge=raw["name"],
        version=raw["version"],
        content_hash=raw["content_hash"],
        files=len(items),
        bytes=sum(i.size for i in items),
        uploaded=0 if dry_run else len(plan.upload),
        uploaded_bytes=0 if dry_run else sum(i.size for i in plan.upload),
        skipped=len(plan.present),
        deleted=0 if dry_run else len(plan.delete),
        verified=verified,
        dry_run=dry_run,
        revision=target.revision,
        seconds=round(time.perf_counter() - t0, 2),
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def read_publications(log: Path) -> list[Publication]:
    """Every entry of ``publications.json``, validated; none if the file does not exist."""
    if not log.exists():
        return []
    try:
        entries = json.loads(log.read_text())
    except ValueError as error:
        raise InputError(f"not valid JSON ({error}).", path=log) from None
    if not isinstance(entries, list):
        raise InputError("not a list of publications.", path=log)
    found, problems = [], []
    for number, entry in enumerate(entries, start=1):
        version = entry.get("schema_version", 1) if isinstance(entry, dict) else None
        if version != SCHEMA_VERSION:
            problems.append(f"entry {number}: schema version {version}, expected {SCHEMA_VERSION}")
            continue
        try:
            found.append(Publication.model_validate({"schema_version": 1, **entry}))
        except ValidationError as error:
            problems += [
                f"entry {number}: {'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in error.errors()
            ]
    if problems:
        raise InputError(
            "unreadable publications:",
            path=log,
            problems=problems,
            hint="restore the file from version control or a backup; `portal publish` "
            "appends to it and never rewrites an entry.",
        )
    return found


def record(log: Path, publication: Publication) -> None:
    """Append a verified publication to ``publications.json`` (where each version is
    mirrored, for the site and for the organiser); the URL carries no credentials."""
    entries = [entry.to_dict() for entry in read_publications(log)]
    entries.append(publication.to_dict())
    atomic.write_text(log, json.dumps(entries, indent=2) + "\n")
