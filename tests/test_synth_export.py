"""The export as a whole: contract layout, determinism, atomic writes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from portal.config import parse_shape
from portal.errors import ConfigError, OutputExistsError
from portal.synth import export as export_module
from portal.synth.export import synthesize
from tests.conftest import flip_label, read_csv, tree_hashes


def test_layout_follows_the_export_contract(cohort_export):
    for name in ("labels.csv", "splits.csv", "clinical.csv", "export.json", "SHA256SUMS"):
        assert (cohort_export / name).is_file(), name
    labels = read_csv(cohort_export / "labels.csv")
    assert list(labels[0]) == [
        "exam_id",
        "patient_id",
        "label",
        "reader_confidence",
        "reader_agreement",
        "gray_zone",
    ]
    exam_dirs = sorted(p.name for p in (cohort_export / "exams").iterdir())
    assert exam_dirs == sorted(r["exam_id"] for r in labels)
    clinical = read_csv(cohort_export / "clinical.csv")
    for column in ("age", "sex", "centre", "sbr_putamen_left", "sbr_caudate_right"):
        assert column in clinical[0]
    assert len({r["centre"] for r in clinical}) >= 5


def test_sha256sums_lists_every_file(cohort_export):
    result = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"],
        cwd=cohort_export,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = {
        line.split("  ", 1)[1] for line in (cohort_export / "SHA256SUMS").read_text().splitlines()
    }
    on_disk = set(tree_hashes(cohort_export)) - {"SHA256SUMS"}
    assert listed == on_disk


def test_same_seed_gives_byte_identical_exports_whatever_the_workers(tmp_path):
    a = synthesize("datpark", tmp_path / "a", exams=10, seed=3, shape=(16, 32, 32), workers=1)
    b = synthesize("datpark", tmp_path / "b", exams=10, seed=3, shape=(16, 32, 32), workers=2)
    assert a.bytes_written == b.bytes_written
    assert tree_hashes(tmp_path / "a") == tree_hashes(tmp_path / "b")
    synthesize("datpark", tmp_path / "c", exams=10, seed=4, shape=(16, 32, 32), workers=2)
    assert tree_hashes(tmp_path / "c") != tree_hashes(tmp_path / "a")


def test_same_seed_gives_byte_identical_full_size_files(tmp_path, full_size_export):
    synthesize("datpark", tmp_path / "again", exams=12, seed=5)
    assert tree_hashes(tmp_path / "again") == tree_hashes(full_size_export)


def test_existing_export_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "datpark"
    synthesize("datpark", out, exams=3, seed=1, shape=(16, 32, 32))
    before = tree_hashes(out)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        synthesize("datpark", out, exams=3, seed=2, shape=(16, 32, 32))
    assert tree_hashes(out) == before
    synthesize("datpark", out, exams=3, seed=2, shape=(16, 32, 32), overwrite=True)
    assert tree_hashes(out) != before


def test_a_failure_midway_leaves_the_previous_export_untouched(tmp_path, monkeypatch):
    out = tmp_path / "datpark"
    synthesize("datpark", out, exams=3, seed=1, shape=(16, 32, 32))
    before = tree_hashes(out)

    def broken_tables(_):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_module, "_tables", broken_tables)
    with pytest.raises(RuntimeError, match="disk full"):
        synthesize("datpark", out, exams=5, seed=9, shape=(16, 32, 32), overwrite=True, workers=1)
    assert tree_hashes(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["datpark"], "temporary folder left behind"


@pytest.mark.parametrize("text", ["128x128", "axbxc", "4x128x64", "128x128x1024"])
def test_bad_shape_is_a_config_error_with_a_fix(text):
    with pytest.raises(ConfigError) as info:
        parse_shape(text)
    assert info.value.hint


def test_unknown_challenge_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="datpark"):
        synthesize("nope", tmp_path / "x", exams=1, seed=0)


def test_overwrite_refuses_an_export_the_organiser_corrected(tmp_path):
    out = tmp_path / "datpark"
    synthesize("datpark", out, exams=3, seed=1, shape=(16, 32, 32))
    flip_label(out / "labels.csv")
    corrected = tree_hashes(out)
    with pytest.raises(OutputExistsError) as refused:
        synthesize("datpark", out, exams=3, seed=1, shape=(16, 32, 32), overwrite=True)
    assert "labels.csv differs from what it wrote" in str(refused.value)
    assert "dvc commit synth@datpark" in refused.value.hint
    assert tree_hashes(out) == corrected


@pytest.mark.parametrize(
    "change, named",
    [
        (lambda out: (out / "exams" / "extra.txt").write_text("note"), "exams/extra.txt was added"),
        (lambda out: (out / "splits.csv").unlink(), "splits.csv was removed"),
        (lambda out: (out / "_synth" / "written.json").unlink(), "_synth/written.json was removed"),
        (lambda out: (out / "SHA256SUMS").write_text(""), "SHA256SUMS differs"),
    ],
)
def test_overwrite_refuses_any_change_to_what_synth_wrote(tmp_path, change, named):
    out = tmp_path / "datpark"
    synthesize("datpark", out, exams=2, seed=1, shape=(16, 32, 32))
    change(out)
    before = tree_hashes(out)
    with pytest.raises(OutputExistsError, match=re.escape(named)):
        synthesize("datpark", out, exams=2, seed=3, shape=(16, 32, 32), overwrite=True)
    assert tree_hashes(out) == before


def test_overwrite_refuses_an_export_from_elsewhere(tmp_path):
    out = tmp_path / "datpark"
    (out / "exams").mkdir(parents=True)
    (out / "labels.csv").write_text("exam_id,patient_id,label\n")
    with pytest.raises(OutputExistsError, match=re.escape("no _synth/written.json")):
        synthesize("datpark", out, exams=2, seed=1, shape=(16, 32, 32), overwrite=True)
    assert (out / "labels.csv").read_text() == "exam_id,patient_id,label\n"


def test_a_corrected_export_survives_dvc_repro(tmp_path):
    """The synth stage of dvc.yaml, run by real DVC: a correction is never regenerated over;
    the fix the error names (`dvc commit`) makes `dvc repro` leave it alone."""
    import shutil

    import yaml

    from tests.test_release_dvc import ROOT, run

    if shutil.which("git") is None:
        pytest.skip("git is needed")
    repo = tmp_path / "repo"
    repo.mkdir()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"synth": stages["stages"]["synth"]}}))
    # the stage depends on the code it runs (tests/test_dvc_deps.py): the copy must hold it
    shutil.copytree(ROOT / "portal", repo / "portal", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    synth = {"exams": 3, "seed": 4, "shape": "32x32x16"}
    challenges = {"datpark": {**params["challenges"]["datpark"], "synth": synth}}
    (repo / "params.yaml").write_text(yaml.safe_dump({"challenges": challenges}))
    run("git", "init", "-q", cwd=repo)
    run("dvc", "init", "-q", cwd=repo)
    run("dvc", "repro", "-q", cwd=repo)
    export = repo / "raw" / "datpark"
    flip_label(export / "labels.csv")
    corrected = tree_hashes(export)

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    done = subprocess.run(["dvc", "repro"], cwd=repo, capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "labels.csv differs from what it wrote" in done.stdout + done.stderr
    assert tree_hashes(export) == corrected

    run("dvc", "commit", "-f", "synth@datpark", cwd=repo)
    run("dvc", "repro", cwd=repo)
    assert tree_hashes(export) == corrected
