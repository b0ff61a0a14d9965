"""The researcher's path: a fresh clone pulls a release from the read-only HTTP remote
that the committed .dvc/config names, served by the real `portal site serve`."""

from __future__ import annotations

import configparser
import http.client
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, small_release, tree_hashes
from tests.test_release_dvc import run

PORTAL = str(Path(sys.executable).parent / "portal")

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, server: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"portal site serve did not listen on {port}")


def request(port: int, method: str, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=b"x" if method in ("PUT", "POST") else None)
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_committed_config_pulls_from_a_read_only_http_remote():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    default = config["core"]["remote"]
    assert config[f"'remote \"{default}\"'"]["url"].startswith(("http://", "https://"))
    # `make demo` pushes to the organiser's writable remote (scripts/demo-finish.sh)
    assert "scripts/demo-finish.sh" in (ROOT / "Makefile").read_text()
    assert "dvc push -r local" in (ROOT / "scripts" / "demo-finish.sh").read_text()


@pytest.fixture(scope="module")
def organiser(tmp_path_factory) -> Path:
    """The organiser's project: a release tracked by DVC, pushed to its .dvc-storage/."""
    repo = tmp_path_factory.mktemp("organiser") / "project"
    repo.mkdir()
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # the committed one
    small_release(repo.parent / "raw", repo / "data" / "datpark", exams=6, seed=8)
    shutil.rmtree(repo / "data" / "datpark" / "private")
    shutil.rmtree(repo / "data" / "datpark" / "staging")
    run("dvc", "add", "-q", "data/datpark/releases/1.0.0", cwd=repo)
    (repo / ".gitignore").write_text("/.dvc-storage/\n/site/\n")
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "release 1.0.0", cwd=repo)
    run("dvc", "push", "-q", "-r", "local", cwd=repo)
    (repo / "site").mkdir()
    (repo / "site" / "index.html").write_text("<!doctype html><title>portal</title>\n")
    return repo


@pytest.fixture(scope="module")
def served(organiser):
    """`portal site serve` on a free port of 127.0.0.1, from the organiser's project."""
    port = free_port()
    server = subprocess.Popen(
        [PORTAL, "site", "serve", "--port", str(port)],
        cwd=organiser,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(port, server)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_fresh_clone_pulls_the_release_and_verifies_it(organiser, served, tmp_path):
    release = organiser / "data" / "datpark" / "releases" / "1.0.0"
    expected = json.loads((release / "manifest.json").read_text())["content_hash"]
    clone = tmp_path / "clone"
    run("git", "clone", "-q", str(organiser), str(clone), cwd=tmp_path)
    assert not (clone / ".dvc-storage").exists()
    # the committed URL names port 8000; this test's server listens elsewhere
    url = f"http://127.0.0.1:{served}/dvc"
    run("dvc", "remote", "modify", "--local", "public", "url", url, cwd=clone)
    run("dvc", "pull", "data/datpark/releases/1.0.0", cwd=clone)
    pulled = clone / "data" / "datpark" / "releases" / "1.0.0"
    assert tree_hashes(pulled) == tree_hashes(release)
    anchor = expected if expected.startswith("sha256:") else f"sha256:{expected}"
    done = subprocess.run(
        [PORTAL, "verify", str(pulled), "--expect", anchor], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = "sha256:" + "0" * 64
    done = subprocess.run(
        [PORTAL, "verify", str(pulled), "--expect", wrong], capture_output=True, text=True
    )
    assert done.returncode != 0


def test_the_remote_is_served_read_only(organiser, served):
    stored = sorted(p for p in (organiser / ".dvc-storage").rglob("*") if p.is_file())
    assert stored, "dvc push stored nothing"
    some = "/dvc/" + stored[0].relative_to(organiser / ".dvc-storage").as_posix()
    assert request(served, "HEAD", some) == 200
    assert request(served, "GET", some) == 200
    before = tree_hashes(organiser / ".dvc-storage")
    for method in ("PUT", "POST", "DELETE"):
        assert request(served, method, some) in (405, 501)
    assert request(served, "GET", "/dvc/../.git/config") == 404
    assert tree_hashes(organiser / ".dvc-storage") == before


def test_reproduce_without_a_release_says_what_to_do_in_a_fresh_clone(tmp_path):
    from portal.errors import InputError
    from portal.reproduce.reproduction import latest_version

    with pytest.raises(InputError) as missing:
        latest_version(tmp_path, "datpark")
    assert "dvc pull" in missing.value.hint
    assert "portal site serve" in missing.value.hint or "remote" in missing.value.hint
