"""Releases through real DVC: repro, push, clone, pull, get; and a label fix costs little."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from portal.ingest.staging import ingest
from portal.release.build import build_release
from portal.release.cards import load_card
from portal.release.manifest import verify_release
from portal.synth.export import synthesize
from tests.conftest import flip_label, tree_hashes

ROOT = Path(__file__).resolve().parent.parent
BIN = str(Path(sys.executable).parent)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")


def run(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    env.pop("PORTAL_DEID_KEY", None)
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def folder_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git + DVC repository holding the project's pipeline, run on a small export."""
    repo = tmp_path_factory.mktemp("dvcrepo") / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", ".gitignore", ".dvcignore"):
        shutil.copy(ROOT / name, repo / name)
    # releases only: reproductions are tested in test_reproduce.py, the site in test_site.py
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())
    stages["stages"].pop("reproduce")
    stages["stages"].pop("site")
    (repo / "dvc.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    shutil.copytree(ROOT / "data_cards", repo / "data_cards")
    shutil.copytree(ROOT / "portal", repo / "portal", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["challenges"]["datpark"]["synth"] = {"exams": 24, "seed": 5, "shape": "32x32x16"}
    # the tabular challenge too, small: its release stage runs through DVC like DaT-Park's
    params["challenges"]["mlkidcar"]["synth"] = {"exams": 120, "seed": 5, "shape": "32x32x16"}
    params.pop("reproductions")
    params.pop("site")
    mirror = f"dir://{repo.parent / 'mirror'}"
    params["publications"] = {
        "datpark-1.0.0-mirror": {"challenge": "datpark", "version": "1.0.0", "to": mirror}
    }
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    run("dvc", "remote", "add", "-d", "local", str(repo.parent / "remote"), cwd=repo)
    run("dvc", "repro", cwd=repo)
    run("git", "add", "-A", cwd=repo)
    run("git", "commit", "-qm", "pipeline", cwd=repo)
    run("dvc", "push", cwd=repo)
    return repo


def test_repro_builds_a_verified_release(project):
    release = project / "data" / "datpark" / "releases" / "1.0.0"
    assert verify_release(release).ok
    tabular = project / "data" / "mlkidcar" / "releases" / "1.0.0"
    assert verify_release(tabular).ok
    assert (tabular / "data" / "splits.parquet").is_file()
    assert (project / "dvc.lock").exists()
    status = run("dvc", "status", cwd=project)
    assert "up to date" in status.lower() or status.strip() == ""


def test_repro_publishes_each_release_to_its_mirrors(project):
    release = project / "data" / "datpark" / "releases" / "1.0.0"
    mirror = project.parent / "mirror" / "datpark" / "1.0.0"
    assert tree_hashes(mirror) == tree_hashes(release)
    log = json.loads((project / "data" / "datpark" / "publications.json").read_text())
    assert [(e["target"], e["verified"]) for e in log] == [(f"dir://{mirror}", True)]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert "publish@datpark-1.0.0-mirror" in lock["stages"]


def test_a_fresh_clone_pulls_and_gets_identical_bytes(project, tmp_path):
    release = project / "data" / "datpark" / "releases" / "1.0.0"
    clone = tmp_path / "clone"
    run("git", "clone", "-q", str(project), str(clone), cwd=tmp_path)
    run("dvc", "pull", "data/datpark/releases/1.0.0", cwd=clone)
    pulled = clone / "data" / "datpark" / "releases" / "1.0.0"
    assert tree_hashes(pulled) == tree_hashes(release)
    assert verify_release(pulled).ok
    got = tmp_path / "got"
    run("dvc", "get", str(project), "data/datpark/releases/1.0.0", "-o", str(got), cwd=tmp_path)
    assert tree_hashes(got) == tree_hashes(release)


def test_a_label_fix_version_adds_little_to_the_cache(tmp_path):
    card = load_card(ROOT / "data_cards" / "datpark.md")
    repo = tmp_path / "repo"
    repo.mkdir()
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    synthesize("datpark", tmp_path / "export", exams=48, seed=6, shape=(16, 32, 32))
    data = repo / "data"
    ingest(
        "datpark",
        tmp_path / "export",
        data,
        options=card.meta.deidentification,
        schema=card.meta.schema,
        key=b"cache-test-key-0123456789abcdef!",
        workers=1,
    )
    releases = data / "releases"
    first = build_release(
        "datpark",
        data / "staging",
        releases,
        card,
        version="1.0.0",
        date="2025-06-01",
        notes="First release.",
    )
    run("dvc", "add", "-q", "data/releases/1.0.0", cwd=repo)
    cache = repo / ".dvc" / "cache"
    before = folder_size(cache)
    flip_label(data / "staging" / "labels.csv")
    build_release(
        "datpark",
        data / "staging",
        releases,
        card,
        version="1.1.0",
        date="2025-09-01",
        notes="One label fixed after review.",
        lower_bump_reason="a single transcription error",
    )
    run("dvc", "add", "-q", "data/releases/1.1.0", cwd=repo)
    added = folder_size(cache) - before
    assert before >= first.bytes * 0.9, "the first release should be in the cache"
    assert added < 0.15 * first.bytes, f"a label fix added {added} of {first.bytes} bytes"
