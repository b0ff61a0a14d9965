"""What every publishing target is: one interface, so the publication never asks which kind.

A target knows one kind of storage (:mod:`~portal.publish.folder`, :mod:`~portal.publish.s3`,
:mod:`~portal.publish.hub`) and answers the same questions: what do you hold, is this file
the same as the release's, send this plan, check what you hold. The default plan and send
(payload first, checked, then ``manifest.json`` last: its arrival seals the version) suit
any store of plain files; the Hub replaces them with commits and a tag.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from portal.errors import OutputExistsError, PublishError
from portal.release.manifest import MANIFEST

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Item:
    """One file of the release to publish."""

    path: str
    size: int
    sha256: str
    local: Path


@dataclass(frozen=True)
class Held:
    """What the target holds at one path, as the target itself reports it."""

    size: int
    sha256: str | None = None  # checked by the target: S3 checksum, LFS oid, a re-hash
    git_sha1: str | None = None  # the Hub's id of a small (non-LFS) file
    etag: str | None = None  # S3: the MD5 of a single-PUT object, computed by the store


@dataclass
class Plan:
    """What a publish will do: send, keep, remove; and what it refused."""

    target: str
    challenge: str
    version: str
    content_hash: str
    upload: list[Item] = field(default_factory=list)
    present: list[Item] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # Hub: the previous version's files
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sealed: bool = False  # the target already holds this whole version, verified

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "challenge": self.challenge,
            "version": self.version,
            "content_hash": self.content_hash,
            "upload": [{"path": i.path, "size": i.size, "sha256": i.sha256} for i in self.upload],
            "upload_bytes": sum(i.size for i in self.upload),
            "present": len(self.present),
            "delete": self.delete,
            "conflicts": self.conflicts,
            "notes": self.notes,
            "sealed": self.sealed,
        }


class Target:
    """A place a release is copied to. Subclasses know one kind of storage; each is
    registered by its address scheme in :data:`portal.publish.registry.TARGETS`."""

    scheme = ""
    #: an address with a host, which must never carry credentials
    remote = False
    url = ""
    #: the storage's own id of what was published (the Hub's commit), if it has one
    revision: str | None = None

    @classmethod
    def open(cls, address: str, challenge: str, version: str, **options) -> Target:
        """The target at ``address`` (the URL after ``scheme://``); options the kind does
        not use (``endpoint_url``, ``workers``, ``api``) are ignored."""
        raise NotImplementedError

    # -- what each kind of storage must answer

    def listing(self) -> dict[str, Held]:
        """Every file the target holds for this version, with what it vouches for."""
        raise NotImplementedError

    def same(self, item: Item, held: Held) -> bool:
        """Does the target's copy hold the release's bytes (by what the target reports)?"""
        return held.size == item.size and held.sha256 == item.sha256

    def put(self, item: Item) -> None:
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    # -- hooks with a default

    def check(self, release: Path, items: list[Item]) -> list[str]:
        """What the target would refuse, found before contacting it: raises
        ``ConfigError`` listing the problems; returns notes for the plan."""
        return []

    def offline_plan(self, plan: Plan, items: list[Item], notes: list[str]) -> Plan | None:
        """A dry run's plan, if the target can make it without being contacted."""
        return None

    def prepare(self) -> None:
        """Before sending: clear what an interrupted publish left half-written."""

    def begin(self, info: dict) -> None:
        """Before the first file: mark the version as being published (folders only)."""

    def finish(self) -> None:
        """After the sealed version was checked: remove the mark of :meth:`begin`."""

    # -- the publication, the same for every store of plain files

    def plan(self, plan: Plan, items: list[Item], *, repair: bool) -> Plan:
        """Compare the release with what the target holds: what to send, keep, remove,
        refuse. ``plan`` arrives empty, naming the release."""
        wanted = {i.path: i for i in items}
        held = self.listing()
        theirs = held.get(MANIFEST)
        same_release = theirs is None or self.same(wanted[MANIFEST], theirs)
        for item in items:
            there = held.get(item.path)
            if there is None:
                plan.upload.append(item)
            elif self.same(item, there):
                plan.present.append(item)
            else:
                plan.conflicts.append(f"{item.path}: the target holds other bytes")
                plan.upload.append(item)
        extra = sorted(set(held) - set(wanted))
        plan.conflicts += [f"{p}: at the target, not in the release" for p in extra]
        if plan.conflicts and not same_release:
            raise OutputExistsError(
                f"{self.url} already holds a different {plan.challenge} {plan.version}: "
                "a published version is immutable.",
                problems=plan.conflicts[:20],
                hint="publish the change as a new version (params.yaml, then `portal release`).",
            )
        if plan.conflicts and not repair:
            raise OutputExistsError(
                f"{self.url} holds files that do not match the release:",
                problems=plan.conflicts[:20],
                hint="the target's copy is damaged or was changed by hand; "
                "`--repair` rewrites those files and removes the extra ones.",
            )
        plan.delete = extra
        plan.sealed = not plan.upload and not plan.delete
        return plan

    def send(self, plan: Plan, progress: Progress | None, workers: int, info: dict) -> None:
        """Payload first, checked; then the manifest, checked: it seals the version."""
        seal = [i for i in plan.upload if i.path == MANIFEST]
        body = [i for i in plan.upload if i.path != MANIFEST]

        def put(item: Item) -> None:
            self.put(item)
            if progress:
                progress(1)

        self.prepare()
        self.begin(info)
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(put, body))
        for path in plan.delete:
            self.remove(path)
        everything = [*plan.upload, *plan.present]  # what was there is checked again too
        self.verify([i for i in everything if i.path != MANIFEST], self.listing(), exact=False)
        for item in seal:
            put(item)
        self.verify(everything, self.listing(), exact=True)
        self.finish()

    def verify(self, items: list[Item], held: dict[str, Held], *, exact: bool) -> None:
        """The target's own listing and checksums against the manifest."""
        problems = []
        for item in items:
            there = held.get(item.path)
            if there is None:
                problems.append(f"{item.path}: missing at the target")
            elif not self.same(item, there):
                found = f"sha256 {there.sha256}" if there.sha256 else f"git id {there.git_sha1}"
                problems.append(
                    f"{item.path}: the target reports {there.size} bytes, {found}, "
                    f"expected {item.size} bytes, sha256 {item.sha256}"
                )
        if exact:
            extra = sorted(set(held) - {i.path for i in items})
            problems += [f"{p}: at the target, not in the release" for p in extra]
        if problems:
            raise PublishError(
                f"after the upload, {self.url} does not hold the release:",
                problems=problems[:20],
                hint="publish again: it re-sends only what is missing or wrong. If it persists, "
                "the store is altering files; do not announce this mirror.",
            )
