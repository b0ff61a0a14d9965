"""A Hugging Face Hub dataset repository: ``hf://org/name``.

``main`` holds the newest published version, each version is a git tag named after it,
so ``load_dataset("org/name", revision="1.0.0")`` gets exactly that release. The files
are sent as commits of at most :data:`HUB_BATCH` operations, checked against the
manifest at the commit, and only then tagged: a reader who finds the tag finds the whole
release. Credentials: ``HF_TOKEN`` or the login cache of ``hf auth login``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections import Counter
from pathlib import Path, PurePosixPath

from portal.errors import ConfigError, OutputExistsError, PublishError
from portal.publish.target import Held, Item, Plan, Progress, Target
from portal.release.manifest import MANIFEST

HUB_IGNORED = frozenset({".gitattributes"})  # the Hub creates and manages it
HUB_MAX_FILE = 50 * 1000**3  # the Hub refuses larger files
HUB_MAX_PER_FOLDER = 10_000  # the Hub's advice: more files in one folder slow every listing
HUB_LFS_OVER = 10 * 1000**2  # larger (or binary) files go to LFS/Xet storage
HUB_BATCH = 500  # operations per commit: a failed commit costs little, a resumed one less


def git_blob_sha1(path: Path) -> str:
    """The id git (and the Hub) gives a file's content."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _is_text(path: str) -> bool:
    return PurePosixPath(path).suffix in {".md", ".json", ".csv", ".cff", ".bib", ".txt", ""}


def hub_checks(release: Path, items: list[Item]) -> tuple[list[str], list[str]]:
    """What the Hub would refuse or mis-read, checked locally: (problems, notes)."""
    from huggingface_hub import DatasetCard

    problems, notes = [], []
    readme = release / "README.md"
    if not readme.exists():
        problems.append("README.md: missing; the Hub shows it as the dataset card.")
    else:
        try:
            card = DatasetCard(readme.read_text(encoding="utf-8"))
            data = card.data.to_dict()
        except Exception as error:  # the card library raises several kinds
            problems.append(f"README.md: the YAML metadata does not parse ({error}).")
            data = {}
        if readme.exists() and not data.get("license"):
            problems.append("README.md: no license in the card's metadata.")
        paths = [i.path for i in items]
        for config in data.get("configs") or []:
            for files in config.get("data_files") or []:
                split = files.get("split", "")
                if not re.fullmatch(r"\w+(\.\w+)*", split):
                    problems.append(f"README.md: split name {split!r} is not accepted.")
                patterns = files.get("path")
                for pattern in [patterns] if isinstance(patterns, str) else patterns or []:
                    if not any(fnmatch.fnmatch(p, pattern) for p in paths):
                        problems.append(
                            f"README.md: config {config.get('config_name')!r} split {split!r} "
                            f"names {pattern!r}, which matches no file of the release."
                        )
    per_folder = Counter(str(PurePosixPath(i.path).parent) for i in items)
    for folder, count in per_folder.items():
        if count > HUB_MAX_PER_FOLDER:
            problems.append(
                f"{folder}/: {count} files in one folder (the Hub advises at most "
                f"{HUB_MAX_PER_FOLDER})."
            )
    for item in items:
        if item.size > HUB_MAX_FILE:
            problems.append(f"{item.path}: {item.size} bytes, over the Hub's 50 GB per file.")
    large = [i for i in items if i.size > HUB_LFS_OVER or not _is_text(i.path)]
    notes.append(
        f"{len(large)} file(s) go to large-file storage, {len(items) - len(large)} "
        "stay in git; every file is checked after upload by its sha256 or git id."
    )
    return problems, notes


class HubTarget(Target):
    """A Hub dataset repository. ``api`` is an ``HfApi`` (the tests give a stand-in bound
    to its signatures)."""

    scheme = "hf"
    remote = True

    def __init__(self, repo_id: str, challenge: str, version: str, *, api=None) -> None:
        self.repo_id = repo_id
        self.version = version
        self.challenge = challenge
        self.url = f"hf://datasets/{repo_id}@{version}"
        self._api = api
        self.revision = None  # the commit that holds the version, once known

    @classmethod
    def open(cls, address: str, challenge: str, version: str, *, api=None, **_options) -> HubTarget:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id

        repo_id = address.removeprefix("datasets/").strip("/")
        try:
            if repo_id.count("/") != 1:
                raise HFValidationError("expected org/name")
            validate_repo_id(repo_id)
        except HFValidationError as error:
            raise ConfigError(
                f"{repo_id!r} is not a Hub repository id ({error}).",
                hint="use hf://<organisation>/<dataset-name>.",
            ) from None
        return cls(repo_id, challenge, version, api=api)

    @property
    def api(self):
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi()
        return self._api

    def _call(self, what: str, function, *args, **kwargs):
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

        try:
            return function(*args, **kwargs)
        except RepositoryNotFoundError:
            raise
        except HfHubHTTPError as error:
            status = getattr(error.response, "status_code", "?")
            hint = (
                "set HF_TOKEN to a token with write access to the repository (or run "
                "`hf auth login`); publishing again resumes."
                if status in (401, 403)
                else "the Hub may be unreachable or busy: publishing again resumes."
            )
            raise PublishError(f"{what} on {self.url} failed (HTTP {status}).", hint=hint) from None

    # -- the Target interface

    def check(self, release: Path, items: list[Item]) -> list[str]:
        problems, notes = hub_checks(release, items)
        if problems:
            raise ConfigError(
                f"the upload plan for {self.url} would fail:",
                problems=problems,
                hint="fix the release's card or layout (a new version), then publish again.",
            )
        return notes

    def offline_plan(self, plan: Plan, items: list[Item], notes: list[str]) -> Plan:
        """The Hub's dry run is built locally: everything, as for a first upload."""
        plan.upload, plan.notes = list(items), notes
        return plan

    def tags(self) -> dict[str, str]:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = self._call(
                "reading tags", self.api.list_repo_refs, self.repo_id, repo_type="dataset"
            )
        except RepositoryNotFoundError:
            return {}
        return {ref.name: ref.target_commit for ref in refs.tags}

    def listing(self, revision: str | None = None) -> dict[str, Held]:
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            tree = self._call(
                "listing",
                self.api.list_repo_tree,
                self.repo_id,
                recursive=True,
                revision=revision or "main",
                repo_type="dataset",
            )
            entries = list(tree)
        except (RepositoryNotFoundError, RevisionNotFoundError):
            return {}
        held = {}
        for entry in entries:
            if not hasattr(entry, "blob_id") or entry.path in HUB_IGNORED:
                continue  # a folder, or the Hub's own file
            lfs = getattr(entry, "lfs", None)
            held[entry.path] = Held(
                size=entry.size,
                sha256=lfs.sha256 if lfs is not None else None,
                git_sha1=None if lfs is not None else entry.blob_id,
            )
        return held

    def same(self, item: Item, held: Held) -> bool:
        if held.size != item.size:
            return False
        if held.sha256 is not None:
            return held.sha256 == item.sha256
        return held.git_sha1 == git_blob_sha1(item.local)

    def plan(self, plan: Plan, items: list[Item], *, repair: bool) -> Plan:
        """A tagged version is compared with its tag; a new one with ``main``, which it
        replaces (older versions stay reachable by their tags)."""
        tags = self.tags()
        if plan.version in tags:
            self.revision = tags[plan.version]
            held = self.listing(tags[plan.version])
            differ = [i.path for i in items if i.path not in held or not self.same(i, held[i.path])]
            extra = sorted(set(held) - {i.path for i in items})
            if differ or extra:
                raise OutputExistsError(
                    f"{self.url}: the tag {plan.version} exists and holds other content; "
                    "a published version is immutable.",
                    problems=[f"{p}: differs" for p in differ[:10]]
                    + [f"{p}: not in the release" for p in extra[:10]],
                    hint="publish the change as a new version.",
                )
            plan.present = list(items)
            plan.sealed = True
            return plan
        held = self.listing("main")
        newer = self._newer_on_main(held, plan.version)
        if newer:
            raise OutputExistsError(
                f"{self.url}: main holds {newer}, newer than {plan.version}; publishing would "
                "move main back.",
                hint="older versions are published before newer ones; fetch this one from the "
                "tag of the version it replaced, or publish it to a folder or a bucket.",
            )
        for item in items:
            there = held.get(item.path)
            if there is not None and self.same(item, there):
                plan.present.append(item)
            else:
                plan.upload.append(item)
        plan.delete = sorted(set(held) - {i.path for i in items})
        return plan

    def send(self, plan: Plan, progress: Progress | None, workers: int, info: dict) -> None:
        """Commit, check the commit's files against the manifest, then tag it."""
        self._commit_all(plan, progress)
        self.verify(list(plan.upload) + list(plan.present), self.listing(self.revision), exact=True)
        self._tag(plan.content_hash)

    # -- Hub operations

    def _newer_on_main(self, held: dict[str, Held], version: str) -> str | None:
        if MANIFEST not in held:
            return None
        path = self._call(
            "reading the manifest on main",
            self.api.hf_hub_download,
            self.repo_id,
            MANIFEST,
            repo_type="dataset",
            revision="main",
        )
        other = json.loads(Path(path).read_text()).get("version", "0.0.0")
        key = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
        return other if key(other) > key(version) else None

    def _commit_all(self, plan: Plan, progress: Progress | None) -> None:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        self._call(
            "creating the repository",
            self.api.create_repo,
            self.repo_id,
            repo_type="dataset",
            exist_ok=True,
        )
        operations = [CommitOperationDelete(path_in_repo=p) for p in plan.delete] + [
            CommitOperationAdd(path_in_repo=i.path, path_or_fileobj=str(i.local))
            for i in plan.upload
        ]
        batches = [operations[i : i + HUB_BATCH] for i in range(0, len(operations), HUB_BATCH)]
        parent = None
        for number, batch in enumerate(batches, start=1):
            info = self._call(
                "committing",
                self.api.create_commit,
                self.repo_id,
                operations=batch,
                commit_message=f"{self.challenge} {self.version}"
                + (f" (part {number} of {len(batches)})" if len(batches) > 1 else ""),
                commit_description=f"Release {self.challenge} {self.version}, published by "
                f"the portal; content {plan.content_hash}.",
                repo_type="dataset",
                revision="main",
                parent_commit=parent,
            )
            parent = info.oid
            if progress:
                progress(sum(1 for op in batch if isinstance(op, CommitOperationAdd)))
        self.revision = parent

    def _tag(self, content_hash: str) -> None:
        self._call(
            "tagging",
            self.api.create_tag,
            self.repo_id,
            tag=self.version,
            tag_message=f"{self.challenge} {self.version}, content {content_hash}",
            revision=self.revision or "main",
            repo_type="dataset",
        )
