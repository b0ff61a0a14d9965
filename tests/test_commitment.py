"""Embargoed labels: withheld with a published commitment, checked when released."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from portal.ingest.staging import ingest
from portal.release.build import build_release
from portal.release.cards import load_card
from portal.release.commitment import FILE
from portal.synth.export import synthesize
from tests.conftest import flip_label

ROOT = Path(__file__).resolve().parent.parent
KEY = b"commitment-test-key-0123456789ab"


def embargoed_card(tmp_path: Path):
    text = (
        (ROOT / "data_cards" / "datpark.md")
        .read_text()
        .replace("  private_test: public", "  private_test: {embargoed_until: 2026-01-01}")
    )
    path = tmp_path / "card.md"
    path.write_text(text)
    return load_card(path)


def test_embargo_withholds_commits_then_reveals_and_checks(tmp_path):
    card = embargoed_card(tmp_path)
    synthesize("datpark", tmp_path / "export", exams=30, seed=9, shape=(16, 32, 32))
    data = tmp_path / "data"
    ingest(
        "datpark",
        tmp_path / "export",
        data,
        options=card.meta.deidentification,
        schema=card.meta.schema,
        key=KEY,
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
        notes="First release, private test embargoed.",
        key=KEY,
    )
    with open(first.path / "metadata" / "labels.csv", newline="") as handle:
        published = list(csv.DictReader(handle))
    with open(data / "staging" / "splits.csv", newline="") as handle:
        splits = {r["exam_id"]: r["split"] for r in csv.DictReader(handle)}
    private = [r for r in published if splits[r["exam_id"]] == "private_test"]
    assert private and all(r["label"] == "" for r in private)
    assert all(r["label"] for r in published if splits[r["exam_id"]] != "private_test")
    shard = next((first.path / "data").glob("private_test-*.parquet"))
    assert set(pq.read_table(shard, columns=["label"]).column("label").to_pylist()) == {None}
    committed = json.loads((first.path / FILE).read_text())
    commitment = committed["embargoed"]["private_test"]["commitment"]
    assert commitment.startswith("sha256:") and not committed["revealed"]

    again = build_release(
        "datpark",
        data / "staging",
        releases,
        card,
        version="1.0.0",
        date="2025-06-01",
        notes="First release, private test embargoed.",
        key=KEY,
    )
    assert again.already_published, "the commitment is deterministic: same bytes again"

    second = build_release(
        "datpark",
        data / "staging",
        releases,
        card,
        version="1.1.0",
        date="2026-02-01",
        notes="Embargo over: private test labels.",
        key=KEY,
    )
    revealed = json.loads((second.path / FILE).read_text())["revealed"]["private_test"]
    assert revealed["matches"] is True and revealed["committed_in"] == "1.0.0"
    with open(second.path / "metadata" / "labels.csv", newline="") as handle:
        rows = [
            [r["exam_id"], r["label"], r["gray_zone"]]
            for r in csv.DictReader(handle)
            if splits[r["exam_id"]] == "private_test"
        ]
    payload = json.dumps(sorted(rows), separators=(",", ":")).encode()
    recomputed = hashlib.sha256(bytes.fromhex(revealed["nonce"]) + payload).hexdigest()
    assert f"sha256:{recomputed}" == commitment, "anyone can check the reveal"
    changes = json.loads((second.path / "changes.json").read_text())
    assert len(changes["labels_released"]) == len(private) and changes["required_bump"] == "minor"
    assert "match the commitment" in (second.path / "CHANGELOG.md").read_text()


def test_labels_changed_during_the_embargo_are_reported(tmp_path):
    card = embargoed_card(tmp_path)
    synthesize("datpark", tmp_path / "export", exams=24, seed=10, shape=(16, 32, 32))
    data = tmp_path / "data"
    ingest(
        "datpark",
        tmp_path / "export",
        data,
        options=card.meta.deidentification,
        schema=card.meta.schema,
        key=KEY,
        workers=1,
    )
    releases = data / "releases"
    build_release(
        "datpark",
        data / "staging",
        releases,
        card,
        version="1.0.0",
        date="2025-06-01",
        notes="First release, private test embargoed.",
        key=KEY,
    )
    changed = tmp_path / "changed"
    shutil.copytree(data / "staging", changed)
    with open(changed / "splits.csv", newline="") as handle:
        private = [r["exam_id"] for r in csv.DictReader(handle) if r["split"] == "private_test"]
    flip_label(changed / "labels.csv", private[0])
    second = build_release(
        "datpark",
        changed,
        releases,
        card,
        version="1.1.0",
        date="2026-02-01",
        notes="Embargo over: private test labels.",
        key=KEY,
    )
    assert (
        json.loads((second.path / FILE).read_text())["revealed"]["private_test"]["matches"] is False
    )
    assert "DIFFER from the commitment" in (second.path / "CHANGELOG.md").read_text()
