"""Bytes that can be trusted: `portal verify` accepts the published release only, and a
published release never changes.

Each attack is made on a copy of a real (small) release; the tests check that it is
found, that the right file is named, with full hashes, and the exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from portal.errors import ConfigError, InputError, VerificationError
from portal.publish.folder import FolderTarget
from portal.publish.publication import publish
from portal.release.build import build_release, clone_file, remove_tree
from portal.release.cards import load_card
from portal.release.manifest import (
    CHECKSUMS,
    MANIFEST,
    PUBLISHING,
    read_manifest,
    verify_release,
)
from portal.site.pages import download_recipes
from tests.conftest import flip_label, read_csv, small_release, tree_hashes
from tests.test_cli import portal

ROOT = Path(__file__).resolve().parent.parent
CARD = load_card(ROOT / "data_cards" / "datpark.md")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("integrity")
    small_release(base / "raw", base / "data" / "datpark", exams=12, seed=7)
    return base


@pytest.fixture(scope="module")
def published(project) -> tuple[Path, str]:
    """The release and its content hash as the citations quote it (the anchor)."""
    release = project / "data" / "datpark" / "releases" / "1.0.0"
    cff = (release / "CITATION.cff").read_text()
    anchor = f"sha256:{read_manifest(release).content_hash}"
    assert anchor in cff
    return release, anchor


def copy_of(release: Path, where: Path) -> Path:
    """A writable copy, as a downloader (or an attacker) holds it."""
    shutil.copytree(release, where)
    for folder, _dirs, names in os.walk(where):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)
    return where


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_lists(copy: Path, changed: str, *, record_hash: bool = False) -> None:
    """What a careful forger does: rewrite the manifest entry and the SHA256SUMS lines of
    ``changed`` (and of the manifest itself) to match the altered file."""
    data = json.loads((copy / MANIFEST).read_text())
    for entry in data["files"]:
        if entry["path"] == changed:
            entry["sha256"] = sha(copy / changed)
            entry["size"] = (copy / changed).stat().st_size
    if record_hash:
        data["content_hash"] = record_hash
    (copy / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")
    lines = []
    for line in (copy / CHECKSUMS).read_text().splitlines():
        digest, path = line.split("  ", 1)
        if path in (changed, MANIFEST):
            digest = sha(copy / path)
        lines.append(f"{digest}  {path}")
    (copy / CHECKSUMS).write_text("\n".join(lines) + "\n")


def test_the_release_passes_with_its_anchor_and_lists_its_manifest(published):
    release, anchor = published
    result = verify_release(release, expect=anchor)
    assert result.ok and result.anchored, result.findings()
    assert result.content_hash == anchor
    sums = (release / CHECKSUMS).read_text()
    assert f"{sha(release / MANIFEST)}  {MANIFEST}\n" in sums
    done = portal("verify", str(release), "--expect", anchor)
    assert done.returncode == 0 and "ok, the published release" in done.stdout
    for quoting in ("README.md", "CITATION.cff", "datacite.json", "citation.bib", "croissant.json"):
        assert anchor.removeprefix("sha256:") in (release / quoting).read_text(), quoting


def test_a_label_changed_with_its_lists_rewritten_fails(published, tmp_path):
    release, anchor = published
    copy = copy_of(release, tmp_path / "forged")
    flip_label(copy / "metadata" / "labels.csv")
    rewrite_lists(copy, "metadata/labels.csv")
    result = verify_release(copy)
    assert not result.ok and not result.altered
    recorded = anchor.removeprefix("sha256:")
    problem = result.hash_problems[0]
    assert f"manifest.json records sha256:{recorded}" in problem
    assert "metadata/labels.csv" in problem  # named through croissant.json's hashes
    assert result.content_hash != anchor and result.content_hash in problem
    done = portal("verify", str(copy))
    assert done.returncode == 6 and "content hash: the files give" in done.stderr
    anchored = portal("verify", str(copy), "--expect", anchor)
    assert anchored.returncode == 6 and "not the published release" in anchored.stderr
    with pytest.raises(VerificationError, match="does not give the content hash"):
        publish(copy, f"dir://{tmp_path / 'mirror'}")
    assert not (tmp_path / "mirror").exists()


def test_a_forger_who_also_records_a_new_hash_is_caught_by_the_anchor(published, tmp_path):
    release, anchor = published
    copy = copy_of(release, tmp_path / "forged")
    flip_label(copy / "metadata" / "labels.csv")
    # a new recorded hash, but the citations still quote the published one
    rewrite_lists(copy, "metadata/labels.csv", record_hash="sha256:" + "ab" * 32)
    result = verify_release(copy)
    assert any("README.md does not quote" in p for p in result.hash_problems)
    anchored = verify_release(copy, expect=anchor)
    assert any("not the published release" in p for p in anchored.hash_problems)


def test_a_changed_licence_in_a_descriptor_changes_the_content_hash(published, tmp_path):
    release, anchor = published
    copy = copy_of(release, tmp_path / "forged")
    card = copy / "README.md"
    card.write_text(card.read_text().replace("license: cc-by-4.0", "license: other"))
    rewrite_lists(copy, "README.md")
    result = verify_release(copy, expect=anchor)
    assert not result.ok and any("not the published release" in p for p in result.hash_problems)


def test_a_flipped_byte_in_the_manifest_is_blamed_on_the_manifest(published, tmp_path):
    release, _ = published
    copy = copy_of(release, tmp_path / "copy")
    raw = (copy / MANIFEST).read_text()
    dicom = next(e for e in json.loads(raw)["files"] if e["path"].endswith(".dcm"))
    digest = dicom["sha256"]
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    (copy / MANIFEST).write_text(raw.replace(digest, flipped, 1))
    result = verify_release(copy)
    assert not result.altered, "no payload file is blamed"
    details = " ".join(item["detail"] for item in result.lists)
    assert {item["path"] for item in result.lists} == {MANIFEST}
    assert sha(copy / MANIFEST) in details and digest in details and flipped in details
    done = portal("verify", str(copy))
    assert done.returncode == 6 and done.stderr.startswith("manifest.json altered")


def test_an_unreadable_manifest_is_named(published, tmp_path):
    release, _ = published
    copy = copy_of(release, tmp_path / "copy")
    data = bytearray((copy / MANIFEST).read_bytes())
    data[0] ^= 0xFF
    (copy / MANIFEST).write_bytes(bytes(data))
    result = verify_release(copy)
    assert [item["path"] for item in result.lists] == [MANIFEST]
    assert portal("verify", str(copy)).returncode == 6


def test_an_altered_payload_file_is_named_with_full_hashes(published, tmp_path):
    release, _ = published
    copy = copy_of(release, tmp_path / "copy")
    target = next((copy / "dicom").rglob("*.dcm"))
    before = sha(target)
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    result = verify_release(copy)
    assert [a["path"] for a in result.altered] == [target.relative_to(copy).as_posix()]
    assert before in result.altered[0]["expected"] and sha(target) in result.altered[0]["found"]


def test_links_and_special_files_are_findings(published, tmp_path):
    release, anchor = published
    copy = copy_of(release, tmp_path / "copy")
    target = next((copy / "dicom").rglob("*.dcm"))
    outside = tmp_path / "identical.dcm"
    shutil.copyfile(target, outside)
    target.unlink()
    target.symlink_to(outside)  # the very same bytes, through a link
    shard = next((copy / "data").glob("*.parquet"))
    os.link(shard, tmp_path / "second-name.parquet")
    os.mkfifo(copy / "metadata" / "pipe")
    result = verify_release(copy, expect=anchor)
    kinds = {u["path"]: u["kind"] for u in result.unsafe}
    assert kinds == {
        target.relative_to(copy).as_posix(): "symlink",
        shard.relative_to(copy).as_posix(): "hard link",
        "metadata/pipe": "special file",
    }
    assert not result.missing, "a linked file is named as a link, not as missing"
    done = portal("verify", str(copy), "--expect", anchor)
    assert done.returncode == 6
    assert f"symlink: {target.relative_to(copy).as_posix()}" in done.stderr
    with pytest.raises(VerificationError):
        publish(copy, f"dir://{tmp_path / 'mirror'}")


def test_expect_refuses_another_hash_and_a_malformed_one(published):
    release, anchor = published
    other = "sha256:" + "0" * 64
    result = verify_release(release, expect=other)
    assert not result.ok and f"expected {other}" in result.hash_problems[0]
    done = portal("verify", str(release), "--expect", other)
    assert done.returncode == 6 and "not the published release" in done.stderr
    with pytest.raises(InputError, match="not a content hash"):
        verify_release(release, expect=anchor[:20])
    assert portal("verify", str(release), "--expect", "f117f758").returncode == 3


def test_released_files_share_no_inode_and_are_read_only(project, published):
    release, _ = published
    staging = project / "data" / "datpark" / "staging"
    staged = {p.stat().st_ino for p in staging.rglob("*") if p.is_file()}
    for path in release.rglob("*"):
        info = path.lstat()
        if path.is_dir():
            assert stat.S_IMODE(info.st_mode) == 0o555, path
        else:
            assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1, path
            assert stat.S_IMODE(info.st_mode) == 0o444, path
            assert info.st_ino not in staged, path
    assert stat.S_IMODE(release.stat().st_mode) == 0o555


def test_clone_file_makes_an_independent_copy(tmp_path):
    source = tmp_path / "a"
    source.write_bytes(b"x" * 100_000)
    how = clone_file(source, tmp_path / "b")
    assert how in ("reflink", "copy_file_range", "copy")
    source.write_bytes(b"y" * 100_000)
    assert (tmp_path / "b").read_bytes() == b"x" * 100_000


def test_a_lower_version_is_refused(project):
    data = project / "data" / "datpark"
    before = tree_hashes(data / "releases")
    with pytest.raises(ConfigError, match=r"lower than its latest release 1\.0\.0") as refused:
        build_release(
            "datpark",
            data / "staging",
            data / "releases",
            CARD,
            version="0.9.0",
            date="2025-05-01",
            notes="Older.",
        )
    assert "1.0.1" in str(refused.value.hint) and "params.yaml" in str(refused.value.hint)
    assert tree_hashes(data / "releases") == before


def test_a_stale_read_only_build_is_cleaned(project, tmp_path):
    stale = project / "data" / "datpark" / "releases" / ".build-9.9.9"
    (stale / "dicom").mkdir(parents=True)
    (stale / "dicom" / "x.dcm").write_bytes(b"x")
    os.chmod(stale / "dicom" / "x.dcm", 0o444)
    os.chmod(stale / "dicom", 0o555)
    remove_tree(stale)
    assert not stale.exists()


def test_a_label_fix_lists_every_changed_file(project, tmp_path):
    data = project / "data" / "datpark"
    fixed = tmp_path / "staging"
    shutil.copytree(data / "staging", fixed)
    exam, old = flip_label(fixed / "labels.csv")
    releases = tmp_path / "releases"
    shutil.copytree(data / "releases" / "1.0.0", releases / "1.0.0")
    summary = build_release(
        "datpark",
        fixed,
        releases,
        CARD,
        version="2.0.0",
        date="2025-09-01",
        notes="One label corrected after reader review.",
    )
    changes = json.loads((summary.path / "changes.json").read_text())
    split = {r["exam_id"]: r["split"] for r in read_csv(fixed / "splits.csv")}[exam]
    assert changes["labels_changed"] == [
        {"exam_id": exam, "field": "label", "from": old, "to": changes["labels_changed"][0]["to"]}
    ]
    shards = [p for p in changes["files_changed"] if p.startswith("data/")]
    assert "metadata/labels.csv" in changes["files_changed"]
    assert shards and all(p.startswith(f"data/{split}-") for p in shards), changes
    assert not any(p.startswith("dicom/") for p in changes["files_changed"])
    changelog = (summary.path / "CHANGELOG.md").read_text()
    for path in changes["files_changed"]:
        assert f"  - {path}" in changelog
    assert verify_release(summary.path, expect=summary.content_hash).ok


def test_an_interrupted_folder_publish_is_called_incomplete(published, tmp_path, monkeypatch):
    release, anchor = published
    mirror = tmp_path / "mirror"
    sent = []
    put = FolderTarget.put

    def killed_after_ten(self, item):
        if len(sent) >= 10:
            raise KeyboardInterrupt  # as a kill between two files would leave it
        sent.append(item.path)
        put(self, item)

    monkeypatch.setattr(FolderTarget, "put", killed_after_ten)
    with pytest.raises(KeyboardInterrupt):
        publish(release, f"dir://{mirror}", workers=1)
    monkeypatch.setattr(FolderTarget, "put", put)
    copy = mirror / "datpark" / "1.0.0"
    assert (copy / PUBLISHING).exists() and not (copy / MANIFEST).exists()
    with pytest.raises(VerificationError, match="incomplete") as incomplete:
        verify_release(copy)
    assert f"portal publish datpark --version 1.0.0 --to dir://{mirror}" in str(
        incomplete.value.hint
    )
    done = portal("verify", str(copy))
    assert done.returncode == 6 and "incomplete" in done.stderr and "again" in done.stderr
    again = publish(release, f"dir://{mirror}")
    assert again.verified and again.content_hash == anchor
    assert not (copy / PUBLISHING).exists()
    assert verify_release(copy, expect=anchor).ok


def test_publish_prints_the_hash_it_computed(project, published, tmp_path):
    _, anchor = published
    done = portal(
        "publish",
        "datpark",
        "--version",
        "1.0.0",
        "--to",
        f"dir://{tmp_path / 'mirror'}",
        "--data",
        str(project / "data" / "datpark"),
    )
    assert done.returncode == 0, done.stderr
    assert f"content hash {anchor} verified (computed from the files" in done.stdout
    copy = tmp_path / "mirror" / "datpark" / "1.0.0"
    assert portal("verify", str(copy), "--expect", anchor).returncode == 0


@pytest.fixture
def served(tmp_path):
    """A static mirror root served over HTTP on 127.0.0.1, as `portal site serve` would."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def run_recipe(lines: list[str], where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    script = "set -e\n" + "\n".join(lines) + "\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=where, capture_output=True, text=True, env=env, timeout=300
    )


def test_the_curl_recipe_of_the_download_page_ends_in_a_passing_verify(published, served, tmp_path):
    release, anchor = published
    www, url = served
    publish(release, f"dir://{www}")
    recipes = download_recipes(
        f"{url}datpark/1.0.0/", "datpark-1.0.0", anchor, "https://example.org/repo", "x"
    )
    for title, (_, lines) in recipes.items():
        assert lines[-1] == f"portal verify datpark-1.0.0 --expect {anchor}" or title == "datasets"
    where = tmp_path / "reader"
    where.mkdir()
    done = run_recipe(recipes["curl + sha256sum"][1], where)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok, the published release" in done.stdout
    assert (where / "datpark-1.0.0" / MANIFEST).exists()
    assert tree_hashes(where / "datpark-1.0.0") == tree_hashes(release)


def test_the_curl_recipe_refuses_a_forged_mirror(published, served, tmp_path):
    release, anchor = published
    www, url = served
    forged = copy_of(release, www / "datpark" / "1.0.0")
    flip_label(forged / "metadata" / "labels.csv")
    rewrite_lists(forged, "metadata/labels.csv")  # sha256sum -c alone would pass
    lines = download_recipes(f"{url}datpark/1.0.0/", "d", anchor, "r", "x")["curl + sha256sum"][1]
    where = tmp_path / "reader"
    where.mkdir()
    done = run_recipe(lines, where)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "not the published release" in done.stderr


def test_the_curl_recipe_refuses_paths_that_leave_its_folder(published, served, tmp_path):
    release, anchor = published
    www, url = served
    mirror = copy_of(release, www / "datpark" / "1.0.0")
    with open(mirror / CHECKSUMS, "a") as sums:
        sums.write(f"{'0' * 64}  ../../escaped\n")
    lines = download_recipes(f"{url}datpark/1.0.0/", "d", anchor, "r", "x")["curl + sha256sum"][1]
    where = tmp_path / "reader"
    where.mkdir()
    done = run_recipe(lines, where)
    assert done.returncode != 0 and "refused: ../../escaped" in done.stderr
    assert not (tmp_path / "escaped").exists()
