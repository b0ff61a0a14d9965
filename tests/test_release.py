"""Releases: loadable, valid, checksummed, citable, immutable, with computed changelogs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cffconvert
import jsonschema
import pytest
import yaml
from datacite import schema45

from portal.errors import ConfigError, OutputExistsError
from portal.ingest.staging import ingest
from portal.release.build import build_release
from portal.release.cards import load_card
from portal.release.manifest import verify_release
from portal.synth.export import synthesize
from tests.conftest import flip_label

ROOT = Path(__file__).resolve().parent.parent
CARD = load_card(ROOT / "data_cards" / "datpark.md")
KEY = b"release-test-key-0123456789abcdef"
MLCROISSANT = str(Path(sys.executable).parent / "mlcroissant")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    synthesize("datpark", root / "export", exams=30, seed=3, shape=(16, 32, 32))
    ingest(
        "datpark",
        root / "export",
        root / "data",
        options=CARD.meta.deidentification,
        schema=CARD.meta.schema,
        key=KEY,
        workers=1,
    )
    summary = build_release(
        "datpark",
        root / "data" / "staging",
        root / "data" / "releases",
        CARD,
        version="1.0.0",
        date="2025-06-01",
        notes="First release.",
    )
    return root, summary


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_load_dataset_offline_gives_the_splits_counts_and_labels(released, tmp_path):
    root, summary = released
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = f"""
import datasets, json
d = datasets.load_dataset({str(summary.path)!r}, cache_dir={str(tmp_path)!r})
out = {{}}
for s in d:
    labels = d[s].features["label"].int2str(list(d[s]["label"]))
    shape = list(d[s].with_format("numpy")[0]["volume"].shape)
    out[s] = {{"n": d[s].num_rows, "labels": labels, "ids": list(d[s]["exam_id"]),
              "shape": shape}}
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    labels = {r["exam_id"]: r["label"] for r in rows(root / "data" / "staging" / "labels.csv")}
    splits = {r["exam_id"]: r["split"] for r in rows(root / "data" / "staging" / "splits.csv")}
    assert set(loaded) == set(summary.exams)
    for split, data in loaded.items():
        assert data["n"] == summary.exams[split] == sum(v == split for v in splits.values())
        assert data["labels"] == [labels[e] for e in data["ids"]]
        assert data["shape"] == [16, 32, 32]


def test_croissant_validates_and_loads_records(released):
    _, summary = released
    croissant = summary.path / "croissant.json"
    check = subprocess.run(
        [MLCROISSANT, "validate", "--jsonld", str(croissant)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert "error" not in check.stderr.lower()
    load = subprocess.run(
        [
            MLCROISSANT,
            "load",
            "--jsonld",
            str(croissant),
            "--record_set",
            "exams",
            "--num_records",
            "5",
        ],
        capture_output=True,
        text=True,
    )
    assert load.returncode == 0, load.stderr[-2000:]
    assert load.stdout.count("exams/exam_id") == 5


def test_citation_files_pass_their_schemas(released):
    _, summary = released
    schema = json.loads(
        (Path(cffconvert.__file__).parent / "schemas" / "1.2.0" / "schema.json").read_text()
    )
    cff = yaml.safe_load((summary.path / "CITATION.cff").read_text())
    jsonschema.validate(cff, schema, format_checker=jsonschema.FormatChecker())
    assert cff["version"] == "1.0.0" and summary.content_hash in json.dumps(cff)
    assert schema45.validate(json.loads((summary.path / "datacite.json").read_text()))
    bib = (summary.path / "citation.bib").read_text()
    assert bib.startswith("@misc{datpark_1_0_0,") and summary.content_hash in bib


def test_sha256sum_passes_and_one_byte_changed_is_named(released, tmp_path):
    _, summary = released
    assert (
        subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=summary.path).returncode
        == 0
    )
    copy = tmp_path / "copy"
    shutil.copytree(summary.path, copy)
    target = next((copy / "dicom").rglob("*.dcm"))
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    result = verify_release(copy)
    assert [a["path"] for a in result.altered] == [str(target.relative_to(copy))]


def test_the_dataset_card_states_computed_statistics(released):
    _, summary = released
    text = (summary.path / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    splits = {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]}
    assert splits == summary.exams
    assert header["license"] == "cc-by-4.0"
    assert "## Motivation" in text and summary.content_hash in text
    n = sum(summary.exams.values())
    assert f"exams: {n}" in text


def test_republishing_a_version_is_a_noop_or_refused(released):
    root, summary = released
    again = build_release(
        "datpark",
        root / "data" / "staging",
        root / "data" / "releases",
        CARD,
        version="1.0.0",
        date="2025-06-01",
        notes="First release.",
    )
    assert again.already_published and again.content_hash == summary.content_hash
    before = {p: p.stat().st_mtime_ns for p in summary.path.rglob("*") if p.is_file()}
    other = root / "other-staging"
    shutil.copytree(root / "data" / "staging", other)
    flip_label(other / "labels.csv")
    with pytest.raises(OutputExistsError, match="already published with other content"):
        build_release(
            "datpark",
            other,
            root / "data" / "releases",
            CARD,
            version="1.0.0",
            date="2025-06-01",
            notes="First release.",
        )
    after = {p: p.stat().st_mtime_ns for p in summary.path.rglob("*") if p.is_file()}
    assert before == after and verify_release(summary.path).ok


def test_label_fixes_in_a_new_version_are_in_its_changelog(released):
    root, _ = released
    fixed = root / "fixed-staging"
    shutil.copytree(root / "data" / "staging", fixed)
    changed, old = flip_label(fixed / "labels.csv", rows(fixed / "labels.csv")[3]["exam_id"])
    releases = root / "data" / "releases"
    with pytest.raises(ConfigError, match="requires a MAJOR version"):
        build_release(
            "datpark",
            fixed,
            releases,
            CARD,
            version="1.1.0",
            date="2025-09-01",
            notes="Label fixes.",
        )
    summary = build_release(
        "datpark",
        fixed,
        releases,
        CARD,
        version="1.1.0",
        date="2025-09-01",
        notes="Label fixes after reader review.",
        lower_bump_reason="corrections of transcription errors only",
    )
    changelog = (summary.path / "CHANGELOG.md").read_text()
    assert f"{changed} label: {old} →" in changelog
    assert "## 1.0.0" in changelog and "transcription errors" in changelog
    changes = json.loads((summary.path / "changes.json").read_text())
    assert changes["parent"] == "1.0.0" and len(changes["labels_changed"]) == 1
    manifest = json.loads((summary.path / "manifest.json").read_text())
    assert manifest["parent"]["version"] == "1.0.0"


def test_a_synthetic_release_says_so_in_every_citation_and_metadata_file(released):
    """The demo's card says ``provenance: synthetic``: every record a reader or a citation
    manager meets says it (the schemas are checked above, on these same files)."""
    from portal.release.cards import provenance_notice

    _, summary = released
    notice = provenance_notice(load_card(ROOT / "data_cards" / "datpark.md").meta)
    assert notice and notice.startswith("Synthetic data")
    cff = yaml.safe_load((summary.path / "CITATION.cff").read_text())
    assert "(synthetic data)" in cff["title"] and cff["abstract"].startswith(notice)
    assert "synthetic data" in cff["keywords"]
    datacite = json.loads((summary.path / "datacite.json").read_text())
    assert "(synthetic data)" in datacite["titles"][0]["title"]
    assert {"description": notice, "descriptionType": "Other"} in datacite["descriptions"]
    assert datacite["types"]["resourceType"].startswith("Synthetic")
    bib = (summary.path / "citation.bib").read_text()
    assert "(synthetic data)" in bib and f"note = {{{notice}" in bib
    card = (summary.path / "README.md").read_text()
    assert "- synthetic" in card.split("---")[1]  # the Hub's tag
    assert f"> **{notice}**" in card
    # the Hub's own reader of a dataset card (its validator is an online service; the
    # offline load_dataset test above reads the same card's configs)
    from huggingface_hub import DatasetCard

    data = DatasetCard.load(summary.path / "README.md").data.to_dict()
    assert "synthetic" in data["tags"] and "(synthetic data)" in data["pretty_name"]
    assert data["license"] == "cc-by-4.0" and data["task_categories"]
    croissant = json.loads((summary.path / "croissant.json").read_text())
    assert croissant["description"].startswith(notice)
    assert croissant["rai:dataCollection"].startswith(notice)


def test_a_real_dataset_carries_no_synthetic_notice():
    from portal.release.cards import cited_title, provenance_notice
    from portal.release.citation import bibtex, citation_cff, datacite

    meta = load_card(ROOT / "data_cards" / "datpark.md").meta.model_copy(
        update={"provenance": "real", "provenance_note": None}
    )
    assert provenance_notice(meta) is None and cited_title(meta) == meta.title
    texts = [
        citation_cff(meta, "1.0.0", "2025-06-01", "sha256:x"),
        json.dumps(datacite(meta, "1.0.0", "2025-06-01", "sha256:x", 1, 1)),
        bibtex(meta, "1.0.0", "2025-06-01", "sha256:x"),
    ]
    assert not any("ynthetic" in text for text in texts)


def test_a_card_must_say_where_its_records_come_from(tmp_path):
    text = (ROOT / "data_cards" / "datpark.md").read_text()
    card = tmp_path / "datpark.md"
    card.write_text(text.replace("provenance: synthetic\n", "", 1))
    with pytest.raises(ConfigError) as error:
        load_card(card)
    assert "provenance" in str(error.value)
