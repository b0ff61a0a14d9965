"""`portal publish` to a folder and to the Hugging Face Hub (the Hub mocked: it is not
on this machine). S3 is tested against a real SeaweedFS in test_scaleout.py."""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
from huggingface_hub.hf_api import CommitInfo, GitRefInfo, GitRefs, RepoFile, RepoFolder

from portal.errors import (
    ConfigError,
    InputError,
    OutputExistsError,
    PublishError,
    VerificationError,
)
from portal.publish import hub as hub_target
from portal.publish.hub import HUB_LFS_OVER, git_blob_sha1
from portal.publish.publication import publish
from portal.publish.registry import open_target
from portal.release.build import build_release
from portal.release.cards import load_card
from portal.release.manifest import (
    DESCRIPTORS,
    PLACEHOLDER,
    build_manifest,
    read_manifest,
    seal,
    write_manifest,
)
from tests.conftest import flip_label, small_release, tree_hashes

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> dict[str, Path]:
    """1.0.0, and 1.1.0 with one label fixed: two versions of a small release."""
    base = tmp_path_factory.mktemp("publish")
    data = base / "data" / "datpark"
    first = small_release(base / "raw", data, exams=24, seed=41)
    flip_label(data / "staging" / "labels.csv")
    second = build_release(
        "datpark",
        data / "staging",
        data / "releases",
        load_card(ROOT / "data_cards" / "datpark.md"),
        version="1.1.0",
        date="2025-09-01",
        notes="One label fixed after review.",
        lower_bump_reason="a single transcription error",
    ).path
    return {"1.0.0": first, "1.1.0": second}


# ------------------------------------------------------------------ folder mirrors


def test_a_folder_mirror_is_verified_idempotent_and_resumable(releases, tmp_path):
    release = releases["1.0.0"]
    mirror = tmp_path / "mirror"
    first = publish(release, f"dir://{mirror}")
    copy = mirror / "datpark" / "1.0.0"
    assert first.verified and first.uploaded == first.files == len(tree_hashes(release))
    assert tree_hashes(copy) == tree_hashes(release)

    again = publish(release, f"dir://{mirror}")
    assert (again.uploaded, again.skipped, again.verified) == (0, first.files, True)

    # interrupted before the seal: the manifest and a shard never arrived
    (copy / "manifest.json").unlink()
    shard = next(copy.glob("data/*.parquet"))
    shard.unlink()
    (shard.parent / f".{shard.name}.tmp-4242").write_bytes(b"half a shard")  # killed mid-copy
    resumed = publish(release, f"dir://{mirror}")
    assert resumed.uploaded == 2 and tree_hashes(copy) == tree_hashes(release)


def test_a_damaged_mirror_is_refused_then_repaired_on_request(releases, tmp_path):
    release = releases["1.0.0"]
    mirror = tmp_path / "mirror"
    publish(release, f"dir://{mirror}")
    copy = mirror / "datpark" / "1.0.0"
    (copy / "metadata" / "labels.csv").write_text("exam_id,label\n")
    (copy / "stray.txt").write_text("not part of the release\n")
    with pytest.raises(OutputExistsError) as refused:
        publish(release, f"dir://{mirror}")
    assert "metadata/labels.csv" in str(refused.value) and "stray.txt" in str(refused.value)
    assert "--repair" in str(refused.value)
    assert (copy / "stray.txt").exists(), "a refusal changes nothing"
    repaired = publish(release, f"dir://{mirror}", repair=True)
    assert repaired.uploaded == 1 and repaired.deleted == 1
    assert tree_hashes(copy) == tree_hashes(release)


def test_another_release_under_the_same_version_is_never_overwritten(releases, tmp_path):
    mirror = tmp_path / "mirror"
    publish(releases["1.1.0"], f"dir://{mirror}")
    # a mirror whose 1.0.0 folder holds the 1.1.0 content
    (mirror / "datpark" / "1.1.0").rename(mirror / "datpark" / "1.0.0")
    before = tree_hashes(mirror)
    for repair in (False, True):
        with pytest.raises(OutputExistsError, match="immutable"):
            publish(releases["1.0.0"], f"dir://{mirror}", repair=repair)
    assert tree_hashes(mirror) == before


def test_an_altered_release_is_not_published(releases, tmp_path):
    altered = tmp_path / "altered"
    shutil.copytree(releases["1.0.0"], altered)
    (altered / "metadata" / "labels.csv").write_text("exam_id,label\n")
    with pytest.raises(VerificationError) as refused:
        publish(altered, f"dir://{tmp_path / 'mirror'}")
    assert "altered: metadata/labels.csv" in str(refused.value)
    assert not (tmp_path / "mirror").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", "unknown publishing target"),
        ("s3://AKIA:topsecret@bucket/x", "credentials"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket"),
        ("hf://just-a-name", "not a Hub repository id"),
        ("hf://org/bad name", "not a Hub repository id"),
    ],
)
def test_bad_targets_are_named_and_no_secret_is_echoed(url, message):
    with pytest.raises(ConfigError, match=message) as refused:
        open_target(url, "datpark", "1.0.0")
    assert "topsecret" not in str(refused.value)


def test_the_command_line_publishes_and_records_the_mirror(releases, tmp_path):
    project = releases["1.0.0"].parents[3]
    mirror = tmp_path / "mirror"
    command = [sys.executable, "-m", "portal.cli", "-q", "publish", "datpark"]
    command += ["--version", "1.0.0", "--to", f"dir://{mirror}"]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "published: datpark 1.0.0" in done.stdout and "verified" in done.stdout
    log = json.loads((project / "data" / "datpark" / "publications.json").read_text())
    assert log[-1]["target"] == f"dir://{mirror.resolve()}/datpark/1.0.0"
    assert log[-1]["verified"] and log[-1]["content_hash"].startswith("sha256:")
    missing = subprocess.run(
        [*command[:-4], "--version", "9.9.9", "--to", f"dir://{mirror}"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "no such release" in missing.stderr


# ------------------------------------------------------------------ the Hub, mocked


def _not_found(repo: str) -> RepositoryNotFoundError:
    request = httpx.Request("GET", f"https://huggingface.co/api/datasets/{repo}")
    return RepositoryNotFoundError(
        f"{repo} not found", response=httpx.Response(404, request=request)
    )


class FakeHub:
    """A stand-in for ``HfApi`` keeping dataset repositories in memory, like the Hub:
    commits are snapshots, ``main`` and tags point at commits, large or binary files
    are listed with their LFS sha256 and the others with their git blob id."""

    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.calls: list[tuple[str, dict]] = []
        self.fail_on_commit: int | None = None

    def _log(self, name: str, *args, **kwargs) -> None:
        self.calls.append((name, args, kwargs))

    def _repo(self, repo_id: str) -> dict:
        if repo_id not in self.repos:
            raise _not_found(repo_id)
        return self.repos[repo_id]

    def _files(self, repo: dict, revision: str) -> dict[str, bytes]:
        oid = repo["tags"].get(revision) or repo["branches"].get(revision) or revision
        return repo["commits"][oid]

    def create_repo(self, repo_id, *, repo_type=None, exist_ok=False):
        self._log("create_repo", repo_id, repo_type=repo_type, exist_ok=exist_ok)
        if repo_id not in self.repos:
            root = {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"}
            self.repos[repo_id] = {"commits": {"c0": root}, "branches": {"main": "c0"}, "tags": {}}

    def list_repo_refs(self, repo_id, *, repo_type=None):
        self._log("list_repo_refs", repo_id, repo_type=repo_type)
        repo = self._repo(repo_id)
        tags = [GitRefInfo(n, f"refs/tags/{n}", oid) for n, oid in repo["tags"].items()]
        branches = [GitRefInfo(n, f"refs/heads/{n}", o) for n, o in repo["branches"].items()]
        return GitRefs(branches=branches, converts=[], tags=tags)

    def list_repo_tree(self, repo_id, *, recursive=False, revision=None, repo_type=None):
        self._log("list_repo_tree", repo_id, recursive=recursive, revision=revision)
        files = self._files(self._repo(repo_id), revision or "main")
        folders = {str(Path(p).parent) for p in files if "/" in p}
        entries = [RepoFolder(path=f, oid="0" * 40) for f in sorted(folders)]
        for path, data in sorted(files.items()):
            lfs = None
            if len(data) > HUB_LFS_OVER or path.endswith((".parquet", ".dcm")):
                lfs = {"size": len(data), "oid": hashlib.sha256(data).hexdigest(), "pointerSize": 1}
            blob = hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()
            entries.append(RepoFile(path=path, size=len(data), oid=blob, lfs=lfs))
        return iter(entries)

    def create_commit(
        self,
        repo_id,
        operations,
        *,
        commit_message,
        commit_description=None,
        repo_type=None,
        revision=None,
        parent_commit=None,
    ):
        self._log(
            "create_commit",
            repo_id,
            operations,
            commit_message=commit_message,
            commit_description=commit_description,
            repo_type=repo_type,
            revision=revision,
            parent_commit=parent_commit,
        )
        repo = self._repo(repo_id)
        head = repo["branches"][revision or "main"]
        assert parent_commit in (None, head), "the branch moved under the commit"
        count = sum(1 for c in self.calls if c[0] == "create_commit")
        if self.fail_on_commit == count:
            raise PublishError("simulated: the connection dropped during a commit")
        files = dict(repo["commits"][head])
        for op in operations:
            if hasattr(op, "path_or_fileobj"):
                files[op.path_in_repo] = Path(op.path_or_fileobj).read_bytes()
            else:
                files.pop(op.path_in_repo, None)
        oid = f"c{len(repo['commits'])}"
        repo["commits"][oid] = files
        repo["branches"][revision or "main"] = oid
        return CommitInfo(
            f"https://huggingface.co/datasets/{repo_id}/commit/{oid}", commit_message, "", oid
        )

    def create_tag(self, repo_id, *, tag, tag_message=None, revision=None, repo_type=None):
        self._log("create_tag", repo_id, tag=tag, revision=revision)
        repo = self._repo(repo_id)
        assert tag not in repo["tags"]
        repo["tags"][tag] = repo["branches"].get(revision, revision)

    def hf_hub_download(self, repo_id, filename, *, repo_type=None, revision=None):
        self._log("hf_hub_download", repo_id, filename, revision=revision)
        data = self._files(self._repo(repo_id), revision or "main")[filename]
        out = Path(__import__("tempfile").mkdtemp()) / filename
        out.write_bytes(data)
        return str(out)


def test_the_fake_hub_is_called_as_the_real_hfapi_would_be(releases):
    """Every call the portal made must bind to the real ``HfApi`` signature."""
    hub = FakeHub()
    publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    assert {name for name, _, _ in hub.calls} >= {"create_repo", "create_commit", "create_tag"}
    for name, args, kwargs in hub.calls:
        inspect.signature(getattr(HfApi, name)).bind(None, *args, **kwargs)


def test_a_dry_run_validates_the_plan_without_the_hub(releases):
    class Offline:
        def __getattr__(self, name):
            raise AssertionError(f"the dry run called the Hub ({name})")

    plans = []
    result = publish(releases["1.0.0"], "hf://portal-org/datpark", dry_run=True,
                     api=Offline(), plan_out=plans.append)  # fmt: skip
    assert result.dry_run and not result.verified and result.uploaded == 0
    (plan,) = plans
    assert len(plan.upload) == result.files and plan.upload[-1].path == "manifest.json"
    assert any("large-file storage" in note for note in plan.notes)


def test_a_dry_run_names_what_the_hub_would_refuse(releases, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(releases["1.0.0"], broken)
    readme = (broken / "README.md").read_text()
    (broken / "README.md").write_text(readme.replace("path: data/train-*", "path: data/trian-*"))
    # re-sealed like a release of its own (another content hash), so that it verifies
    previous = read_manifest(broken).content_hash
    for name in DESCRIPTORS:
        if (broken / name).exists():
            data = (broken / name).read_bytes()
            (broken / name).write_bytes(data.replace(previous.encode(), PLACEHOLDER.encode()))
    write_manifest(broken, seal(broken, build_manifest(broken, name="datpark", version="1.0.0")))
    with pytest.raises(ConfigError) as refused:
        publish(broken, "hf://portal-org/datpark", dry_run=True, api=FakeHub())
    assert "data/trian-*" in str(refused.value) and "matches no file" in str(refused.value)


def test_versions_on_the_hub_are_tags_and_main_follows_the_newest(releases):
    hub = FakeHub()
    first = publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    repo = hub.repos["portal-org/datpark"]
    assert first.verified and "1.0.0" in repo["tags"] and first.revision == repo["tags"]["1.0.0"]
    tagged = repo["commits"][repo["tags"]["1.0.0"]]
    assert {
        p: hashlib.sha256(b).hexdigest() for p, b in tagged.items() if p != ".gitattributes"
    } == (tree_hashes(releases["1.0.0"]))
    commits = len(repo["commits"])
    again = publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    assert again.uploaded == 0 and again.verified and len(repo["commits"]) == commits

    second = publish(releases["1.1.0"], "hf://portal-org/datpark", api=hub)
    changed = {
        p for p, h in tree_hashes(releases["1.1.0"]).items()
        if tree_hashes(releases["1.0.0"]).get(p) != h
    }  # fmt: skip
    assert second.uploaded == len(changed) < second.files, "only what changed is sent"
    main = repo["commits"][repo["branches"]["main"]]
    assert set(main) - {".gitattributes"} == set(tree_hashes(releases["1.1.0"]))
    assert repo["commits"][repo["tags"]["1.0.0"]] == tagged, "a tag never moves"
    # the old version is still there, sealed: publishing it again is a verified no-op
    assert publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub).uploaded == 0


def test_an_interrupted_hub_publish_resumes_and_tags_only_when_complete(releases, monkeypatch):
    monkeypatch.setattr(hub_target, "HUB_BATCH", 10)
    hub = FakeHub()
    hub.fail_on_commit = 3
    with pytest.raises(PublishError, match="connection dropped"):
        publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    repo = hub.repos["portal-org/datpark"]
    assert not repo["tags"], "no tag before the whole release is there"
    hub.fail_on_commit = None
    resumed = publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    assert resumed.verified and resumed.skipped == 20 and "1.0.0" in repo["tags"]


def test_the_hub_refuses_to_move_main_back_or_change_a_tag(releases):
    hub = FakeHub()
    publish(releases["1.1.0"], "hf://portal-org/datpark", api=hub)
    with pytest.raises(OutputExistsError, match=r"newer than 1\.0\.0"):
        publish(releases["1.0.0"], "hf://portal-org/datpark", api=hub)
    repo = hub.repos["portal-org/datpark"]
    repo["commits"][repo["tags"]["1.1.0"]]["metadata/labels.csv"] = b"exam_id,label\n"
    with pytest.raises(OutputExistsError, match="immutable"):
        publish(releases["1.1.0"], "hf://portal-org/datpark", api=hub)


def test_small_files_are_checked_by_their_git_id(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"hello\n")
    done = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True)
    if done.returncode == 0:
        assert git_blob_sha1(path) == done.stdout.strip()
    assert git_blob_sha1(path) == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_publications_json_is_written_and_read_through_one_definition(releases, tmp_path):
    from portal.publish.publication import SCHEMA_VERSION, read_publications

    log = tmp_path / "publications.json"
    first = publish(releases["1.0.0"], f"dir://{tmp_path / 'mirror'}", log=log)
    assert read_publications(log) == [first]
    assert json.loads(log.read_text())[0]["schema_version"] == SCHEMA_VERSION
    entries = json.loads(log.read_text())
    entries.append({**entries[0], "verifed": True, "files": "many"})
    log.write_text(json.dumps(entries))
    with pytest.raises(InputError) as refused:
        read_publications(log)
    assert str(log) in str(refused.value)
    assert "entry 2: files" in str(refused.value) and "entry 2: verifed" in str(refused.value)
