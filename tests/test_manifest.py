"""Manifests and `portal verify`: every byte listed, every change named."""

from __future__ import annotations

import json
import subprocess

import pytest

from portal.errors import InputError
from portal.release.manifest import (
    PLACEHOLDER,
    build_manifest,
    read_manifest,
    seal,
    verify_release,
    write_manifest,
)
from tests.test_cli import portal


@pytest.fixture
def release(tmp_path):
    root = tmp_path / "1.0.0"
    (root / "data").mkdir(parents=True)
    (root / "data" / "train-00000.parquet").write_bytes(b"P" * 5000)
    (root / "dicom" / "E1").mkdir(parents=True)
    (root / "dicom" / "E1" / "0001.dcm").write_bytes(bytes(range(256)) * 40)
    (root / "README.md").write_text(f"# card\ncontent hash sha256:{PLACEHOLDER}\n")
    write_manifest(root, seal(root, build_manifest(root, name="datpark", version="1.0.0")))
    return root


def test_manifest_lists_every_file_and_sha256sum_accepts_it(release):
    manifest = read_manifest(release)
    assert sorted(f.path for f in manifest.files) == [
        "README.md",
        "data/train-00000.parquet",
        "dicom/E1/0001.dcm",
    ]
    described = json.loads((release / "manifest.json").read_text())
    assert described["content_hash"] == f"sha256:{manifest.content_hash}"
    assert described["total_bytes"] == 5000 + 10240 + len((release / "README.md").read_bytes())
    done = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=release, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify_release(release).ok


def test_one_changed_byte_is_named(release):
    target = release / "dicom" / "E1" / "0001.dcm"
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    result = verify_release(release)
    assert not result.ok
    assert [a["path"] for a in result.altered] == ["dicom/E1/0001.dcm"]
    assert (
        subprocess.run(
            ["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=release, capture_output=True
        ).returncode
        != 0
    )


def test_missing_and_extra_files_are_named(release):
    (release / "README.md").unlink()
    (release / "data" / "notes.txt").write_text("added later")
    result = verify_release(release)
    assert result.missing == ["README.md"] and result.extra == ["data/notes.txt"]


def test_content_hash_covers_every_file_descriptors_included(release):
    first = read_manifest(release)
    card = (release / "README.md").read_text()
    (release / "README.md").write_text(card + "corrected\n")  # descriptors are content too
    changed_card = build_manifest(release, name="datpark", version="1.0.1", parent=first)
    assert changed_card.content_hash != first.content_hash
    (release / "README.md").write_text(card.replace(first.content_hash, PLACEHOLDER))
    same = build_manifest(release, name="datpark", version="1.0.1", parent=first)
    assert same.content_hash == first.content_hash
    (release / "data" / "train-00000.parquet").write_bytes(b"R" * 5000)
    second = build_manifest(release, name="datpark", version="1.0.1", parent=first)
    assert second.content_hash != first.content_hash
    assert second.parent == {"version": "1.0.0", "content_hash": f"sha256:{first.content_hash}"}


def test_descriptors_quote_the_hash_that_covers_them(tmp_path):
    root = tmp_path / "r"
    (root / "data").mkdir(parents=True)
    (root / "data" / "a.bin").write_bytes(b"A" * 100)
    (root / "CITATION.cff").write_text(f"identifier: sha256:{PLACEHOLDER}\n")
    sealed = seal(root, build_manifest(root, name="datpark", version="1.0.0"))
    write_manifest(root, sealed)
    assert (root / "CITATION.cff").read_text() == f"identifier: sha256:{sealed.content_hash}\n"
    result = verify_release(root, expect=f"sha256:{sealed.content_hash}")
    assert result.ok and result.anchored, result.findings()
    # another licence or citation, its manifest lines rewritten: the hash no longer matches
    (root / "CITATION.cff").write_text(f"identifier: sha256:{sealed.content_hash}\nforged\n")
    forged = build_manifest(root, name="datpark", version="1.0.0")
    forged.recorded_hash = sealed.content_hash
    write_manifest(root, forged)
    result = verify_release(root, expect=f"sha256:{sealed.content_hash}")
    assert not result.ok and any("not the published release" in p for p in result.hash_problems)


def test_cli_verify_exit_codes(release, tmp_path):
    ok = portal("verify", str(release))
    assert ok.returncode == 0 and "verify ok" in ok.stdout
    # without --expect, it says what it did not prove (the whole sentence)
    assert "to prove it is the published release)" in " ".join(ok.stdout.split())
    (release / "data" / "train-00000.parquet").write_bytes(b"Q" * 5000)
    bad = portal("verify", str(release))
    assert bad.returncode == 6 and "altered: data/train-00000.parquet" in bad.stderr
    nothing = portal("verify", str(tmp_path))
    assert nothing.returncode == 3 and "not a release folder" in nothing.stderr


def test_a_folder_without_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="not a release folder"):
        verify_release(tmp_path)
