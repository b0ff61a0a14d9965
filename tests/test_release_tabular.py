"""`portal release` of a tabular challenge (ML-KIDCAR) through the command line: a small
synthetic export, really synthesised, ingested and released by `portal`, then checked as
a downloader would (`portal verify`, `datasets.load_dataset`, `mlcroissant validate`)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from portal.release.build import build_release
from portal.release.cards import Embargo, load_card
from portal.release.manifest import build_manifest, read_manifest, write_manifest
from tests.conftest import tree_hashes

ROOT = Path(__file__).resolve().parent.parent
MLCROISSANT = str(Path(sys.executable).parent / "mlcroissant")
SURGERIES, SEED = 120, 5
VERSIONS = {
    "1.0.0": ("2026-06-01", "First release of the test export."),
    "2.0.0": ("2026-07-01", "One surgery's KDIGO stage corrected."),
}


def portal(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", "--project", str(project), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _project(root: Path) -> Path:
    """A project folder: the real data cards, params.yaml with the test's releases."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "data_cards", root / "data_cards")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["reproductions"] = {}
    params["releases"] = {
        f"mlkidcar-{v}": {"challenge": "mlkidcar", "version": v, "date": d, "notes": n}
        for v, (d, n) in VERSIONS.items()
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = _project(tmp_path_factory.mktemp("kidcar-cli") / "project")
    done = portal(
        root,
        "-q",
        "synth",
        "mlkidcar",
        "--exams",
        str(SURGERIES),
        "--seed",
        str(SEED),
        "--out",
        str(root / "raw" / "mlkidcar"),
    )
    assert done.returncode == 0, done.stderr
    done = portal(root, "-q", "ingest", "mlkidcar")
    assert done.returncode == 0, done.stderr
    done = portal(root, "release", "mlkidcar", "--version", "1.0.0")
    assert done.returncode == 0, done.stderr
    assert "surgeries" in done.stdout and "content hash" in done.stdout
    return root


def _release(project: Path, version: str = "1.0.0") -> Path:
    return project / "data" / "mlkidcar" / "releases" / version


def _hash(release: Path) -> str:
    return f"sha256:{read_manifest(release).content_hash}"


def test_the_release_holds_the_tables_the_descriptors_and_a_sealed_manifest(project):
    release = _release(project)
    names = sorted(p.name for p in release.iterdir())
    assert names == sorted(
        [
            "CHANGELOG.md",
            "CITATION.cff",
            "README.md",
            "SHA256SUMS",
            "changes.json",
            "citation.bib",
            "croissant.json",
            "data",
            "datacite.json",
            "deid_report.json",
            "manifest.json",
        ]
    )
    staged = pq.read_table(project / "data" / "mlkidcar" / "staging" / "splits.parquet")
    released = pq.read_table(release / "data" / "splits.parquet")
    assert released.num_rows == staged.num_rows > 0
    manifest = json.loads((release / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file()}
    assert listed == on_disk - {"manifest.json", "SHA256SUMS"}
    assert (
        manifest["deid_key_id"]
        == json.loads((project / "data" / "mlkidcar" / "staging" / "deid_report.json").read_text())[
            "key_id"
        ]
    )
    content_hash = manifest["content_hash"]
    for name in ("README.md", "croissant.json", "CITATION.cff", "citation.bib", "datacite.json"):
        assert content_hash.removeprefix("sha256:") in (release / name).read_text(), name
    # read-only, files and folders (modes: root may write anything)
    for path in [release, *release.rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o555 if path.is_dir() else 0o444), path
    changes = json.loads((release / "changes.json").read_text())
    assert changes["parent"] is None and changes["required_bump"] is None
    assert "First release" in (release / "CHANGELOG.md").read_text()


def test_citations_and_card_say_the_data_is_synthetic(project):
    release = _release(project)
    cff = yaml.safe_load((release / "CITATION.cff").read_text())
    assert "synthetic" in cff["title"].lower() and "synthetic" in cff["message"].lower()
    assert "synthetic" in (release / "citation.bib").read_text().lower()
    card = (release / "README.md").read_text()
    assert "synthetic" in card.split("---", 2)[2].lower()[:2000]
    assert "synthetic" in json.loads((release / "croissant.json").read_text())["description"]


def test_portal_verify_accepts_the_release_and_its_published_hash(project):
    release = _release(project)
    done = portal(project, "verify", str(release), "--expect", _hash(release))
    assert done.returncode == 0, done.stderr
    assert "ok, the published release" in done.stdout


def _copy(release: Path, target: Path) -> Path:
    shutil.copytree(release, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


def test_a_tampered_release_is_refused_even_with_a_rehashed_manifest(project, tmp_path):
    release = _release(project)
    published = _hash(release)
    copy = _copy(release, tmp_path / "copy")
    table = pq.read_table(copy / "data" / "labels" / "train.parquet")
    flipped = pc.invert(table.column("aki"))
    table = table.set_column(table.column_names.index("aki"), "aki", flipped)
    pq.write_table(table, copy / "data" / "labels" / "train.parquet")

    done = portal(project, "verify", str(copy))
    assert done.returncode == 6
    assert "data/labels/train.parquet" in done.stderr

    # the tamperer rewrites manifest.json and SHA256SUMS to match the altered file
    manifest = read_manifest(copy)
    rehashed = build_manifest(copy, name=manifest.name, version=manifest.version)
    write_manifest(copy, rehashed)
    done = portal(project, "verify", str(copy), "--expect", published)
    assert done.returncode == 6, done.stdout
    assert "not the published release" in done.stderr
    assert "Traceback" not in done.stderr


def test_releasing_again_is_a_no_op_and_the_bytes_are_the_same_twice(project, tmp_path):
    release = _release(project)
    before = tree_hashes(release)
    done = portal(project, "release", "mlkidcar", "--version", "1.0.0")
    assert done.returncode == 0, done.stderr
    assert "already published with this content" in done.stdout
    assert tree_hashes(release) == before
    # the same staging released into another folder gives the very same bytes
    other = tmp_path / "data"
    for name in ("staging", "private"):
        shutil.copytree(project / "data" / "mlkidcar" / name, other / name)
    done = portal(project, "release", "mlkidcar", "--version", "1.0.0", "--data", str(other))
    assert done.returncode == 0, done.stderr
    assert tree_hashes(other / "releases" / "1.0.0") == before


def test_the_release_loads_with_datasets_and_validates_with_mlcroissant(project, tmp_path):
    release = _release(project)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = f"""
import datasets, json
out = {{}}
for config in ("surgeries", "labels", "signals"):
    d = datasets.load_dataset({str(release)!r}, config, cache_dir={str(tmp_path)!r})
    out[config] = {{s: d[s].num_rows for s in d}}
print(json.dumps(out))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    splits = pq.read_table(release / "data" / "splits.parquet").column("split").to_pylist()
    expected = {s: splits.count(s) for s in set(splits)}
    assert loaded["surgeries"] == expected == loaded["labels"]
    assert sum(loaded["signals"].values()) == sum(
        pq.read_metadata(p).num_rows for p in (release / "data" / "signals").glob("*.parquet")
    )
    check = subprocess.run(
        [MLCROISSANT, "validate", "--jsonld", str(release / "croissant.json")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert "error" not in check.stderr.lower()


def _relabel(staging: Path) -> str:
    """Move one AKI surgery to another KDIGO stage (AKI unchanged, so k and l too)."""
    path = staging / "labels.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    target = next(r for r in rows if r["aki"] and r["aki_stage"] in (1, 2))
    target["aki_stage"] = 3 - target["aki_stage"]
    path.chmod(0o644)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    return target["surgery_id"]


def test_a_second_version_gives_the_computed_diff(project, tmp_path):
    work = _project(tmp_path / "second")
    for name in ("raw",):
        shutil.copytree(project / name, work / name)
    for name in ("staging", "private"):
        shutil.copytree(project / "data" / "mlkidcar" / name, work / "data" / "mlkidcar" / name)
    shutil.copytree(_release(project), _release(work))
    relabelled = _relabel(work / "data" / "mlkidcar" / "staging")

    done = portal(work, "release", "mlkidcar", "--version", "2.0.0")
    assert done.returncode == 0, done.stderr
    assert "from 1.0.0: major" in done.stdout
    second = _release(work, "2.0.0")
    changes = json.loads((second / "changes.json").read_text())
    assert changes["parent"] == "1.0.0" and changes["required_bump"] == "major"
    assert [c["surgery_id"] for c in changes["labels_changed"]] == [relabelled]
    assert changes["labels_changed"][0]["field"] == "aki_stage"
    assert not changes["surgeries_added"] and not changes["surgeries_removed"]
    split = changes["labels_changed"][0]["split"]
    assert changes["files_changed"] == [f"data/labels/{split}.parquet"]
    log = (second / "CHANGELOG.md").read_text()
    assert log.index("## 2.0.0 (2026-07-01)") < log.index("## 1.0.0 (2026-06-01)")
    assert f"{relabelled} ({split}) aki_stage" in log
    manifest = read_manifest(second)
    assert manifest.parent == {"version": "1.0.0", "content_hash": _hash(_release(work))}
    done = portal(work, "verify", str(second), "--expect", _hash(second))
    assert done.returncode == 0, done.stderr


def test_a_bad_staging_gets_a_one_line_error_naming_the_file(project, tmp_path):
    data = tmp_path / "data"
    for name in ("staging", "private"):
        shutil.copytree(project / "data" / "mlkidcar" / name, data / name)
    (data / "staging" / "notes.csv").write_text("surgery_id,text\n")
    done = portal(project, "-q", "release", "mlkidcar", "--version", "1.0.0", "--data", str(data))
    assert done.returncode == 3, done.stderr
    assert "notes.csv" in done.stderr and "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "staging/notes.csv" in error[0], done.stderr
    assert not (data / "releases" / "1.0.0").exists()

    (data / "staging" / "notes.csv").unlink()
    (data / "staging" / "verification.json").unlink()
    done = portal(project, "release", "mlkidcar", "--version", "1.0.0", "--data", str(data))
    assert done.returncode == 3 and "verification.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_withheld_split_keeps_its_labels_out_and_commits_to_them(project, tmp_path):
    """A card embargoing private_test: its labels are empty, its post-operative creatinine
    is left out, and label_commitments.json commits to the labels."""
    card = load_card(project / "data_cards" / "mlkidcar.md")
    policy = {
        **card.meta.split_policy,
        "private_test": Embargo(embargoed_until=dt.date(2030, 1, 1)),
    }
    card = card.model_copy(update={"meta": card.meta.model_copy(update={"split_policy": policy})})
    staging = project / "data" / "mlkidcar" / "staging"
    summary = build_release(
        "mlkidcar",
        staging,
        tmp_path / "releases",
        card,
        version="1.0.0",
        date="2026-06-01",
        notes="Embargoed private test.",
        key=b"tabular-release-test-key-0123456",
    )
    release = summary.path
    labels = pq.read_table(release / "data" / "labels" / "private_test.parquet")
    assert labels.num_rows == summary.exams["private_test"] > 0
    assert labels.column("aki").null_count == labels.num_rows
    assert labels.column("aki_stage").null_count == labels.num_rows
    labs = pq.read_table(release / "data" / "labs" / "private_test.parquet")
    assert pc.max(labs.column("hours_after_surgery_end")).as_py() <= 0
    public = pq.read_table(release / "data" / "labels" / "public_test.parquet")
    assert public.column("aki").null_count == 0
    committed = json.loads((release / "label_commitments.json").read_text())
    assert committed["embargoed"]["private_test"]["exams"] == labels.num_rows
    card_text = (release / "README.md").read_text()
    assert "| private_test |" in card_text and "withheld" in card_text
