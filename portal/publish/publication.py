"""Publish a release to a mirror: a folder, S3-compatible storage or the Hugging Face Hub.

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
  last. A reader who finds the manifest (or the tag) finds the whole release. A folder
  also holds ``.portal-publishing.json`` (the command to run again) until it is
  sealed, so ``portal verify`` calls an interrupted mirror incomplete, not foreign.

Layouts: a folder or a bucket holds ``<root>/<challenge>/<version>/<path>`` (what the
site's ``downloads`` address expects); a Hub dataset repository holds one version at
a time on ``main`` and every version as a git tag named after it, so
``load_dataset("org/name", revision="1.0.0")`` gets exactly that release.

Credentials never pass through the portal's options, files or output: S3 uses boto3's
chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role),
with the endpoint from ``--endpoint-url`` or ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``;
the Hub uses ``HF_TOKEN`` or the login cache of ``hf auth login``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import mimetypes
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from portal.core.atomic import TMP_MARKER
from portal.errors import (
    ConfigError,
    OutputExistsError,
    PublishError,
    VerificationError,
)
from portal.release.manifest import (
    CHECKSUMS,
    DESCRIPTORS,
    MANIFEST,
    PUBLISHING,
    read_manifest,
    sha256_file,
    verify_release,
)

Progress = Callable[[int], None]
HUB_IGNORED = frozenset({".gitattributes"})  # the Hub creates and manages it
HUB_MAX_FILE = 50 * 1000**3  # the Hub refuses larger files
HUB_MAX_PER_FOLDER = 10_000  # the Hub's advice: more files in one folder slow every listing
HUB_LFS_OVER = 10 * 1000**2  # larger (or binary) files go to LFS/Xet storage
HUB_BATCH = 500  # operations per commit: a failed commit costs little, a resumed one less
S3_MAX_PUT = 5 * 1024**3  # one PUT; larger files would need a multipart upload


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


@dataclass
class Publication:
    """The outcome of one ``publish``, also appended to ``publications.json``."""

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
        return asdict(self)


# ---------------------------------------------------------------- targets


def _b64_to_hex(value: str) -> str | None:
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        return None


def git_blob_sha1(path: Path) -> str:
    """The id git (and the Hub) gives a file's content."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Target:
    """A place a release is copied to; subclasses know one kind of storage."""

    url = ""

    def listing(self) -> dict[str, Held]:
        raise NotImplementedError

    def same(self, item: Item, held: Held) -> bool:
        return held.size == item.size and held.sha256 == item.sha256

    def put(self, item: Item) -> None:
        raise NotImplementedError

    def remove(self, path: str) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Before sending: clear what an interrupted publish left half-written."""

    def begin(self, info: dict) -> None:
        """Before the first file: mark the version as being published (folders only)."""

    def finish(self) -> None:
        """After the sealed version was checked: remove the mark of :meth:`begin`."""


class DirTarget(Target):
    """A static mirror in a folder: ``<root>/<challenge>/<version>/``."""

    def __init__(self, root: Path, challenge: str, version: str) -> None:
        self.base = Path(root).expanduser().resolve() / challenge / version
        self.url = f"dir://{self.base}"

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
        import json

        from portal.core import atomic

        atomic.write_text(self.base / PUBLISHING, json.dumps(info, indent=2) + "\n")

    def finish(self) -> None:
        (self.base / PUBLISHING).unlink(missing_ok=True)


class S3Target(Target):
    """S3 or any S3-compatible store: ``s3://bucket/prefix/<challenge>/<version>/``.

    Each object is sent with its sha256 as ``x-amz-checksum-sha256``: the store checks
    the bytes it received against the manifest's hash and refuses a mismatch, and later
    reports that checksum back, so verification needs no download.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        challenge: str,
        version: str,
        *,
        endpoint_url: str | None,
        workers: int,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.base = "/".join(p for p in (prefix.strip("/"), challenge, version) if p) + "/"
        self.url = f"s3://{bucket}/{self.base}"
        self.endpoint_url = endpoint_url
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=max(10, workers),
                # only send a checksum when asked to: the portal always asks for SHA256
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.workers = workers

    def _call(self, what: str, function, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        try:
            return function(**kwargs)
        except NoCredentialsError:
            raise ConfigError(
                f"{what} on {self.url}: no S3 credentials found.",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the "
                "environment; never on the command line or in a committed file.",
            ) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchBucket", "404") and what == "listing":
                raise ConfigError(
                    f"bucket {self.bucket} does not exist{where}.",
                    hint="create it first (the store's admin tool, or "
                    "`aws s3 mb s3://<bucket> --endpoint-url <url>`), then publish again.",
                ) from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                raise ConfigError(
                    f"{what} on {self.url}: the store refused the credentials ({code}).",
                    hint="check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and that this identity "
                    "may list and write the bucket.",
                ) from None
            raise PublishError(f"{what} on {self.url} failed: {code}.") from None
        except BotoCoreError as error:
            raise PublishError(
                f"{what} on {self.url}{where} failed: {type(error).__name__}.",
                hint="check the endpoint URL (--endpoint-url or AWS_ENDPOINT_URL) and that the "
                "store is up; publishing again resumes.",
            ) from None

    def listing(self) -> dict[str, Held]:
        keys: dict[str, tuple[int, str]] = {}
        token = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(
                "listing",
                self.client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=self.base,
                **extra,
            )
            for obj in page.get("Contents", []):
                keys[obj["Key"][len(self.base) :]] = (obj["Size"], obj.get("ETag", ""))
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]

        def head(path: str) -> tuple[str, Held]:
            meta = self._call(
                "reading the checksum",
                self.client.head_object,
                Bucket=self.bucket,
                Key=self.base + path,
                ChecksumMode="ENABLED",
            )
            checked = meta.get("ChecksumSHA256")
            return path, Held(
                size=keys[path][0],
                etag=keys[path][1].strip('"') or None,
                sha256=_b64_to_hex(checked) if checked and "-" not in checked else None,
                git_sha1=None,
            )

        with ThreadPoolExecutor(self.workers) as pool:
            held = dict(pool.map(head, sorted(keys)))
        return held

    def same(self, item: Item, held: Held) -> bool:
        if held.size != item.size:
            return False
        if held.sha256 is not None:  # the store checked these bytes on receipt
            return held.sha256 == item.sha256
        if held.etag and "-" not in held.etag:  # a store without checksums: the MD5 it computed
            return held.etag == _md5(item.local)
        return False  # nothing the store vouches for: send it again

    def put(self, item: Item) -> None:
        if item.size > S3_MAX_PUT:
            raise PublishError(
                f"{item.path}: {item.size} bytes is over the 5 GiB of one S3 PUT.",
                hint="split the release into smaller shards (the release's shard size).",
            )
        kind = mimetypes.guess_type(item.path)[0] or "application/octet-stream"
        with open(item.local, "rb") as body:
            self._call(
                f"uploading {item.path}",
                self.client.put_object,
                Bucket=self.bucket,
                Key=self.base + item.path,
                Body=body,
                ContentLength=item.size,
                ContentType=kind,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(item.sha256)).decode(),
                Metadata={"sha256": item.sha256},
            )

    def remove(self, path: str) -> None:
        self._call(
            f"removing {path}", self.client.delete_object, Bucket=self.bucket, Key=self.base + path
        )


class HubTarget(Target):
    """A Hugging Face Hub dataset repository: ``main`` holds the newest published version,
    each version is a tag. ``api`` is an ``HfApi`` (the tests give a stand-in)."""

    def __init__(self, repo_id: str, challenge: str, version: str, *, api=None) -> None:
        self.repo_id = repo_id
        self.version = version
        self.challenge = challenge
        self.url = f"hf://datasets/{repo_id}@{version}"
        self._api = api
        self.revision = "main"
        self.commit: str | None = None

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
                revision=revision or self.revision,
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

    def commit_all(self, plan: Plan, progress: Progress | None) -> None:
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
        batches = [operations[i : i + HUB_BATCH] for i in range(0, len(operations), HUB_BATCH)] or [
            []
        ]
        parent = None
        for number, batch in enumerate(batches, start=1):
            if not batch:
                break
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
        self.commit = parent

    def tag(self, content_hash: str) -> None:
        self._call(
            "tagging",
            self.api.create_tag,
            self.repo_id,
            tag=self.version,
            tag_message=f"{self.challenge} {self.version}, content {content_hash}",
            revision=self.commit or "main",
            repo_type="dataset",
        )


def open_target(
    url: str,
    challenge: str,
    version: str,
    *,
    endpoint_url: str | None = None,
    workers: int = 8,
    api=None,
) -> Target:
    """Parse ``dir://…``, ``s3://bucket/prefix`` or ``hf://org/name`` into a target."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("dir", "s3", "hf"):
        raise ConfigError(
            f"unknown publishing target {url!r}.",
            hint="use dir:///path/to/mirror, s3://bucket/prefix or hf://org/name.",
        )
    if scheme == "dir":
        if not rest:
            raise ConfigError("dir:// needs a folder, e.g. dir:///srv/mirror.")
        return DirTarget(Path(rest), challenge, version)
    if "@" in rest.split("/", 1)[0] or ":" in rest.split("/", 1)[0]:
        raise ConfigError(
            f"the {scheme}:// target holds credentials or a port; they are not shown here.",
            hint="give credentials through the environment (AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, HF_TOKEN) and a store's address with --endpoint-url.",
        )
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ConfigError(
                f"{bucket!r} is not a valid S3 bucket name.",
                hint="3 to 63 lower-case letters, digits, dots and hyphens: s3://bucket/prefix.",
            )
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        return S3Target(bucket, prefix, challenge, version, endpoint_url=endpoint, workers=workers)
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo_id = rest.removeprefix("datasets/").strip("/")
    try:
        if repo_id.count("/") != 1:
            raise HFValidationError("expected org/name")
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ConfigError(
            f"{repo_id!r} is not a Hub repository id ({error}).",
            hint="use hf://<organisation>/<dataset-name>.",
        ) from None
    return HubTarget(repo_id, challenge, version, api=api)


# ---------------------------------------------------------------- planning


def release_items(release: Path) -> tuple[list[Item], dict]:
    """Every file to send, in the order they must land: payload, descriptors, the
    checksum list, and ``manifest.json`` last (its arrival seals the version)."""
    import json

    manifest = read_manifest(release)
    raw = json.loads((release / MANIFEST).read_text())
    items = [Item(f.path, f.size, f.sha256, release / f.path) for f in manifest.files]
    items.sort(key=lambda i: (i.path in DESCRIPTORS, i.path))
    for name in (CHECKSUMS, MANIFEST):
        path = release / name
        items.append(Item(name, path.stat().st_size, sha256_file(path), path))
    return items, raw


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


def _is_text(path: str) -> bool:
    return PurePosixPath(path).suffix in {".md", ".json", ".csv", ".cff", ".bib", ".txt", ""}


def make_plan(target: Target, items: list[Item], raw_manifest: dict, *, repair: bool) -> Plan:
    """Compare the release with what the target holds: what to send, keep, remove, refuse."""
    plan = Plan(
        target=target.url,
        challenge=raw_manifest["name"],
        version=raw_manifest["version"],
        content_hash=raw_manifest["content_hash"],
    )
    wanted = {i.path: i for i in items}
    if isinstance(target, HubTarget):
        return _hub_plan(target, plan, items)
    held = target.listing()
    ours = wanted[MANIFEST]
    theirs = held.get(MANIFEST)
    same_release = theirs is None or target.same(ours, theirs)
    for item in items:
        there = held.get(item.path)
        if there is None:
            plan.upload.append(item)
        elif target.same(item, there):
            plan.present.append(item)
        else:
            plan.conflicts.append(f"{item.path}: the target holds other bytes")
            plan.upload.append(item)
    extra = sorted(set(held) - set(wanted))
    plan.conflicts += [f"{p}: at the target, not in the release" for p in extra]
    if plan.conflicts and not same_release:
        raise OutputExistsError(
            f"{target.url} already holds a different {plan.challenge} {plan.version}: "
            "a published version is immutable.",
            problems=plan.conflicts[:20],
            hint="publish the change as a new version (params.yaml, then `portal release`).",
        )
    if plan.conflicts and not repair:
        raise OutputExistsError(
            f"{target.url} holds files that do not match the release:",
            problems=plan.conflicts[:20],
            hint="the target's copy is damaged or was changed by hand; "
            "`--repair` rewrites those files and removes the extra ones.",
        )
    plan.delete = extra
    plan.sealed = not plan.upload and not plan.delete
    return plan


def _hub_plan(target: HubTarget, plan: Plan, items: list[Item]) -> Plan:
    tags = target.tags()
    if plan.version in tags:
        target.commit = tags[plan.version]
        held = target.listing(tags[plan.version])
        differ = [i.path for i in items if i.path not in held or not target.same(i, held[i.path])]
        extra = sorted(set(held) - {i.path for i in items})
        if differ or extra:
            raise OutputExistsError(
                f"{target.url}: the tag {plan.version} exists and holds other content; "
                "a published version is immutable.",
                problems=[f"{p}: differs" for p in differ[:10]]
                + [f"{p}: not in the release" for p in extra[:10]],
                hint="publish the change as a new version.",
            )
        plan.present = list(items)
        plan.sealed = True
        return plan
    held = target.listing("main")
    newer = _newer_on_main(target, held, plan.version)
    if newer:
        raise OutputExistsError(
            f"{target.url}: main holds {newer}, newer than {plan.version}; publishing would "
            "move main back.",
            hint="older versions are published before newer ones; fetch this one from the "
            "tag of the version it replaced, or publish it to a folder or a bucket.",
        )
    for item in items:
        there = held.get(item.path)
        if there is not None and target.same(item, there):
            plan.present.append(item)
        else:
            plan.upload.append(item)
    plan.delete = sorted(set(held) - {i.path for i in items})
    return plan


def _newer_on_main(target: HubTarget, held: dict[str, Held], version: str) -> str | None:
    if MANIFEST not in held:
        return None
    import json

    path = target._call(
        "reading the manifest on main",
        target.api.hf_hub_download,
        target.repo_id,
        MANIFEST,
        repo_type="dataset",
        revision="main",
    )
    other = json.loads(Path(path).read_text()).get("version", "0.0.0")
    key = lambda v: tuple(int(x) for x in v.split("."))  # noqa: E731
    return other if key(other) > key(version) else None


# ---------------------------------------------------------------- publishing


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
) -> Publication:
    """Publish one release folder to ``target_url``; see the module's docstring."""
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
    if isinstance(target, HubTarget):  # what the Hub would refuse, found before contacting it
        problems, notes = hub_checks(release, items)
        if problems:
            raise ConfigError(
                f"the upload plan for {target.url} would fail:",
                problems=problems,
                hint="fix the release's card or layout (a new version), then publish again.",
            )
        if dry_run:  # the Hub's plan is built locally: everything, as for a first upload
            plan = Plan(target.url, raw["name"], raw["version"], raw["content_hash"])
            plan.upload, plan.notes = items, notes
            if plan_out:
                plan_out(plan)
            return _publication(target, raw, items, plan, verified=False, dry_run=True, t0=started)
    plan = make_plan(target, items, raw, repair=repair)
    if plan_out:
        plan_out(plan)
    if dry_run or plan.sealed:
        verified = plan.sealed and not dry_run
        if verified:
            target.finish()  # a publish killed after the seal, before removing its mark
        return _publication(
            target, raw, items, plan, verified=verified, dry_run=dry_run, t0=started
        )
    if isinstance(target, HubTarget):
        target.commit_all(plan, progress)
        _verify(target, items, target.listing(target.commit), exact=True)
        target.tag(raw["content_hash"])
    else:
        command = f"portal publish {raw['name']} --version {raw['version']} --to {target_url}"
        info = {
            "challenge": raw["name"],
            "version": raw["version"],
            "content_hash": check.content_hash,
            "files": len(items),
            "command": command,
        }
        _send(target, plan, progress, workers, info)
    return _publication(target, raw, items, plan, verified=True, dry_run=False, t0=started)


def _send(target: Target, plan: Plan, progress: Progress | None, workers: int, info: dict) -> None:
    """Payload first, checked; then the manifest, checked: it seals the version."""
    seal = [i for i in plan.upload if i.path == MANIFEST]
    body = [i for i in plan.upload if i.path != MANIFEST]

    def put(item: Item) -> None:
        target.put(item)
        if progress:
            progress(1)

    target.prepare()
    target.begin(info)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        list(pool.map(put, body))
    for path in plan.delete:
        target.remove(path)
    everything = [*plan.upload, *plan.present]  # what was there is checked again too
    _verify(target, [i for i in everything if i.path != MANIFEST], target.listing(), exact=False)
    for item in seal:
        put(item)
    _verify(target, everything, target.listing(), exact=True)
    target.finish()


def _verify(target: Target, items: list[Item], held: dict[str, Held], *, exact: bool) -> None:
    """The target's own listing and checksums against the manifest."""
    problems = []
    for item in items:
        there = held.get(item.path)
        if there is None:
            problems.append(f"{item.path}: missing at the target")
        elif not target.same(item, there):
            problems.append(
                f"{item.path}: the target reports {there.size} bytes, "
                f"{'sha256 ' + there.sha256 if there.sha256 else 'git id ' + str(there.git_sha1)}"
                f", expected {item.size} bytes, sha256 {item.sha256}"
            )
    if exact:
        extra = sorted(set(held) - {i.path for i in items})
        problems += [f"{p}: at the target, not in the release" for p in extra]
    if problems:
        raise PublishError(
            f"after the upload, {target.url} does not hold the release:",
            problems=problems[:20],
            hint="publish again: it re-sends only what is missing or wrong. If it persists, "
            "the store is altering files; do not announce this mirror.",
        )


def _publication(target, raw, items, plan, *, verified, dry_run, t0) -> Publication:
    from datetime import UTC, datetime

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
        revision=getattr(target, "commit", None),
        seconds=round(time.perf_counter() - t0, 2),
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def record(log: Path, publication: Publication) -> None:
    """Append a verified publication to ``publications.json`` (where each version is
    mirrored, for the site and for the organiser); the URL carries no credentials."""
    import json

    from portal.core import atomic

    entries = json.loads(log.read_text()) if log.exists() else []
    entries.append(publication.to_dict())
    atomic.write_text(log, json.dumps(entries, indent=2) + "\n")
