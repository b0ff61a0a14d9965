"""``portal ingest``: bad input, quarantine, resumption, determinism, valid output."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless, SecondaryCaptureImageStorage

from portal.deid.profile import DeidOptions
from portal.errors import InputError, OutputExistsError
from portal.ingest.staging import ingest
from portal.release.cards import load_card
from portal.synth.export import synthesize
from tests import dciodvfy
from tests.conftest import tree_hashes

SCHEMA = load_card(Path(__file__).resolve().parents[1] / "data_cards" / "datpark.md").meta.schema

KEY = b"\x07" * 32
OPTIONS = DeidOptions(pseudonym_prefix="DPK")
SHAPE = (16, 32, 32)


@pytest.fixture
def export(tmp_path) -> Path:
    out = tmp_path / "export"
    synthesize("datpark", out, exams=12, seed=8, shape=SHAPE)
    return out


def first_file(export: Path, n: int = 0) -> Path:
    return sorted(export.glob("exams/*/*.dcm"))[n]


def rewrite_csv(path: Path, edit) -> None:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = list(rows[0])
    rows = edit(rows)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def test_table_problems_are_all_reported_together_and_nothing_is_written(export, tmp_path):
    exams = sorted(p.name for p in (export / "exams").iterdir())
    shutil.rmtree(export / "exams" / exams[0])  # a label for a missing exam
    (export / "exams" / "DPK-E99999").mkdir()  # an exam with no label
    shutil.copy(first_file(export, 1), export / "exams" / "DPK-E99999" / "x.dcm")

    with open(export / "labels.csv", newline="") as handle:
        labels = {r["exam_id"]: r for r in csv.DictReader(handle)}
    patient = labels[exams[1]]["patient_id"]
    rewrite_csv(
        export / "labels.csv",
        lambda rows: [dict(r, patient_id=patient) if r["exam_id"] == exams[2] else r for r in rows],
    )
    rewrite_csv(
        export / "splits.csv",
        lambda rows: [
            dict(
                r,
                split="train"
                if r["exam_id"] == exams[1]
                else "private_test"
                if r["exam_id"] == exams[2]
                else r["split"],
            )
            for r in rows
        ],
    )
    out = tmp_path / "data"
    with pytest.raises(InputError) as info:
        ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY)
    text = str(info.value)
    assert f"label for missing exam {exams[0]}" in text
    assert "DPK-E99999" in text and "no label" in text
    assert f"patient {patient} is in 2 splits" in text
    assert info.value.hint
    assert not out.exists(), "validation happens before any work"


def _corrupt(export: Path) -> dict[str, str]:
    """Damage files of several exams in different ways; return exam -> expected reason."""
    files = sorted(export.glob("exams/*/*.dcm"))
    expected = {}
    truncated = files[0]
    truncated.write_bytes(truncated.read_bytes()[:5000])
    expected[truncated.parent.name] = "truncated"
    files[1].write_bytes(b"%PDF-1.4 this is a referral letter, not an image")
    expected[files[1].parent.name] = "not a DICOM"
    ds = pydicom.dcmread(files[2])
    del ds.PixelData
    ds.save_as(files[2], enforce_file_format=True)
    expected[files[2].parent.name] = "no pixel data"
    ds = pydicom.dcmread(files[3])
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51 not really j2k"] * int(ds.NumberOfFrames))
    ds.save_as(files[3], enforce_file_format=True)
    expected[files[3].parent.name] = "unsupported transfer syntax"
    ds = pydicom.dcmread(files[4])
    ds.BurnedInAnnotation = "YES"
    ds.save_as(files[4], enforce_file_format=True)
    expected[files[4].parent.name] = "BurnedInAnnotation"
    ds = pydicom.dcmread(files[5])
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.save_as(files[5], enforce_file_format=True)
    expected[files[5].parent.name] = "secondary capture"
    duplicate = files[6].parent / "copy.dcm"
    shutil.copy(files[7], duplicate)  # the same SOP Instance UID in two exams
    expected[files[7].parent.name + "/dup"] = "duplicate SOP Instance UID"
    return expected


def test_bad_files_are_quarantined_with_reasons_and_nothing_is_lost(export, tmp_path):
    before = {p.name: p.read_bytes() for p in export.glob("exams/*/*")}
    expected = _corrupt(export)
    damaged = {p.parent.name + "/" + p.name: p.read_bytes() for p in export.glob("exams/*/*")}
    out = tmp_path / "data"
    summary = ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=2)
    report = json.loads((out / "staging" / "deid_report.json").read_text())
    outcomes = [f for f in report["files"] if f["status"] == "quarantined"]
    assert summary.quarantined == len(outcomes) == 8
    reasons = {f["exam_id"]: f["reason"] for f in outcomes}
    for exam, fragment in expected.items():
        exam = exam.removesuffix("/dup")
        assert fragment in reasons[exam], (exam, reasons[exam])
    assert all(f["fix"] for f in outcomes)
    # both copies of the duplicate go; the exam holding the stray copy keeps its own file
    assert len(summary.excluded_exams) == 7
    quarantined = {
        p.parent.name + "/" + p.name: p.read_bytes()
        for p in (out / "private" / "quarantine").rglob("*")
        if p.is_file()
    }
    assert len(quarantined) == 8
    for name, data in quarantined.items():
        assert damaged[name] == data, f"{name} changed in quarantine"
    assert not any(
        name.endswith(".dcm") and "NM_" in name for name in json.dumps(report).split('"')
    )
    with open(out / "staging" / "labels.csv", newline="") as handle:
        staged_labels = list(csv.DictReader(handle))
    assert {r["exam_id"] for r in staged_labels}.isdisjoint(summary.excluded_exams)
    assert len(before) == 12


def test_interrupted_ingest_resumes_and_matches_a_clean_run(export, tmp_path):
    clean = tmp_path / "clean"
    ingest("datpark", export, clean, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1)

    out = tmp_path / "resumed"
    seen = []

    def stop_after_five(n):
        seen.append(n)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(
            "datpark",
            export,
            out,
            options=OPTIONS,
            schema=SCHEMA,
            key=KEY,
            workers=1,
            progress=stop_after_five,
        )
    assert not (out / "staging").exists(), "nothing half-staged"
    journal = "".join(p.read_text() for p in (out / ".ingest-work" / "done").glob("*.jsonl"))
    assert len(journal.splitlines()) == 5

    resumed = []
    ingest(
        "datpark",
        export,
        out,
        options=OPTIONS,
        schema=SCHEMA,
        key=KEY,
        workers=1,
        progress=resumed.append,
    )
    assert resumed[0] == 5 and sum(resumed) == 12, "the five finished files were not redone"
    assert tree_hashes(out / "staging") == tree_hashes(clean / "staging")
    assert not (out / ".ingest-work").exists()


def test_same_key_same_bytes_other_key_other_pseudonyms(export, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    c = tmp_path / "c"
    ingest("datpark", export, a, options=OPTIONS, schema=SCHEMA, key=KEY, workers=2)
    ingest("datpark", export, b, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1)
    ingest("datpark", export, c, options=OPTIONS, schema=SCHEMA, key=b"\x08" * 32, workers=2)
    assert tree_hashes(a / "staging") == tree_hashes(b / "staging")
    first = "dicom/" + sorted(p.name for p in (export / "exams").iterdir())[0] + "/0001.dcm"
    uid_a = pydicom.dcmread(a / "staging" / first).SOPInstanceUID
    uid_c = pydicom.dcmread(c / "staging" / first).SOPInstanceUID
    assert uid_a != uid_c


@pytest.mark.skipif(not dciodvfy.available(), reason="dciodvfy not installed")
def test_deidentified_full_size_files_stay_valid(full_size_export, tmp_path):
    ingest("datpark", full_size_export, tmp_path / "d", options=OPTIONS, schema=SCHEMA, key=KEY)
    for path in sorted((tmp_path / "d" / "staging" / "dicom").rglob("*.dcm"))[:6]:
        report = dciodvfy.check(path)
        assert report.ok, (path, report.errors)


def test_cli_ingest_and_verify_deid(export, tmp_path):
    card = Path(__file__).resolve().parent.parent / "data_cards" / "datpark.md"
    env_key = "ab" * 32
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "portal.cli", "-q", *a],
        capture_output=True,
        text=True,
        env={"PORTAL_DEID_KEY": env_key, "PATH": "/usr/bin:/bin"},
    )
    done = run(
        "ingest",
        "datpark",
        "--export",
        str(export),
        "--out",
        str(tmp_path / "d"),
        "--card",
        str(card),
    )
    assert done.returncode == 0, done.stderr
    assert "Staged in" in done.stdout
    check = run("verify-deid", str(tmp_path / "d" / "staging"), "--against", str(export))
    assert check.returncode == 0 and "passed" in check.stdout
    leak = run("verify-deid", str(export / "exams"), "--against", str(export))
    assert leak.returncode == 6 and "person-name" in leak.stderr


def test_staging_shrinks_to_half_at_most_unless_allowed(export, tmp_path):
    """Half of the exams may go (a withdrawn centre); more is refused, staging unchanged,
    until the organiser says the export really shrank."""
    out = tmp_path / "data"
    files = sorted(export.glob("exams/*/*.dcm"))
    originals = {path: path.read_bytes() for path in files}

    def spoil(count: int) -> None:
        for path in files:
            path.write_bytes(b"not DICOM" if path in files[:count] else originals[path])

    assert (
        ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1).exams
        == 12
    )
    spoil(6)
    assert (
        ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1).exams
        == 6
    )
    spoil(0)
    assert (
        ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1).exams
        == 12
    )
    before = tree_hashes(out / "staging")
    spoil(7)
    with pytest.raises(
        OutputExistsError, match=r"would stage 5 exam\(s\) where the current staging holds 12"
    ) as refused:
        ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=1)
    assert any(p.startswith("not-dicom: 7 file(s)") for p in refused.value.problems)
    assert tree_hashes(out / "staging") == before
    summary = ingest(
        "datpark",
        export,
        out,
        options=OPTIONS,
        schema=SCHEMA,
        key=KEY,
        workers=1,
        allow_shrink=True,
    )
    assert summary.exams == 5
    assert [(g.code, g.count) for g in summary.quarantine] == [("not-dicom", 7)]
    report = json.loads((out / "staging" / "deid_report.json").read_text())
    assert report["quarantine"]["not-dicom"]["count"] == 7


def test_the_structure_check_passes_every_file_pydicom_reads_in_full():
    """The walk that finds corrupt lengths, deep nesting and syntax mismatches must not
    quarantine a sound file: none of the real-world files pydicom reads whole is flagged,
    except two that are truly damaged (a truncated RT plan, a DICOMDIR with a bad item)."""
    from portal.ingest.staging import structure_problem
    from tests.realworld import package_dicom_files

    checked, flagged = 0, {}
    for path in package_dicom_files():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
                list(ds.iterall())
        except Exception:
            continue
        checked += 1
        problem = structure_problem(path)
        if problem is not None:
            flagged[path.name] = problem.code
    assert checked > 100
    assert set(flagged) <= {"rtplan_truncated.dcm", "DICOMDIR-nooffset"}, flagged


def test_every_quarantine_code_is_documented():
    from portal.ingest.staging import QUARANTINE_CODES

    text = (Path(__file__).parent.parent / "docs" / "deidentification.md").read_text()
    assert [c for c in QUARANTINE_CODES if f"`{c}`" not in text] == []


def test_the_deid_report_is_typed_where_written_and_where_read(cohort_export, tmp_path):
    """deid_report.json has one definition: a misspelt key fails when it is written, and
    a report of another shape is refused by name when a release reads it."""
    from pydantic import ValidationError

    from portal.errors import InputError
    from portal.ingest.report import read_report, write_report

    ingest("datpark", cohort_export, tmp_path / "data", options=OPTIONS, schema=SCHEMA, key=KEY)
    written = tmp_path / "data" / "staging" / "deid_report.json"
    good = json.loads(written.read_text())
    path = tmp_path / "deid_report.json"
    write_report(path, good, good["files"])
    assert path.read_text() == json.dumps(good, indent=2) + "\n"  # the published bytes
    assert read_report(path).verifier.passed is True
    misspelt = {**good, "verifer": good["verifier"]}
    with pytest.raises(ValidationError):
        write_report(tmp_path / "other.json", misspelt, [])
    path.write_text(json.dumps({**good, "counts": {"files": "many"}}))
    with pytest.raises(InputError) as refused:
        read_report(path)
    assert "deid_report.json" in str(refused.value) and refused.value.problems
