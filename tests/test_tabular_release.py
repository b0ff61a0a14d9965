"""The tabular release's data files (portal/tabular/release.py), from a real ingest of a
small synthetic ML-KIDCAR export with canaries planted in every identifying place."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from portal.errors import InputError
from portal.synth.mlkidcar.export import synthesize
from portal.tabular.ingest import card_block, ingest_tabular
from portal.tabular.release import PER_SPLIT, ReleaseText, write_release_files
from tests.test_tabular import KEY, _everything, _fold, _plant

#: the policy of the challenge's own data card: the release must meet its k and l
CARD = card_block(Path(__file__).resolve().parent.parent / "data_cards" / "mlkidcar.md")
MLCROISSANT = str(Path(sys.executable).parent / "mlcroissant")
TEXT = ReleaseText(
    name="mlkidcar",
    title="ML-KIDCAR: acute kidney injury after cardiac surgery",
    summary="Perioperative tables and minute-level signals of cardiac surgeries.",
    version="1.0.0",
    date="2026-12-03",
    creators=("Health Data Hub",),
    publisher="Health Data Hub",
    citation="Health Data Hub (2026). ML-KIDCAR. Version 1.0.0.",
    synthetic=True,
    keywords=("acute kidney injury", "cardiac surgery"),
    sections={"Uses": "Research on AKI prediction."},
)


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("kidcar-release")
    synthesize(root / "clean", surgeries=160, seed=7)
    canary = _plant(root / "clean", root / "raw")
    done = ingest_tabular(root / "raw", root / "data", key=KEY, card_block=CARD)
    summary = write_release_files(done.staging, root / "release", TEXT)
    return root, canary, done.staging, summary


def test_every_table_is_written_once_per_split(released):
    _, _, staging, summary = released
    out = summary.out
    staged = pq.read_table(staging / "splits.parquet").to_pandas()
    expected = staged["split"].value_counts().to_dict()
    assert summary.surgeries == expected
    for name in PER_SPLIT:
        total = sum(
            pq.read_metadata(out / "data" / name / f"{s}.parquet").num_rows for s in expected
        )
        assert total == pq.read_metadata(staging / f"{name}.parquet").num_rows, name
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "croissant.json",
        "data",
        "deid_report.json",
    ]
    assert set(summary.files) == {
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
    }


def test_load_dataset_loads_each_config_with_the_splits(released, tmp_path):
    _, _, _, summary = released
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    code = f"""
import datasets, json
out = {{}}
for config in ("surgeries", "labels", "labs", "signals", "splits"):
    d = datasets.load_dataset({str(summary.out)!r}, config, cache_dir={str(tmp_path)!r})
    out[config] = {{s: d[s].num_rows for s in d}}
    out[config + "_columns"] = list(next(iter(d.values())).features)
default = datasets.load_dataset({str(summary.out)!r}, cache_dir={str(tmp_path)!r})
out["default"] = sorted(default["train"].features)
print(json.dumps(out))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    for config in PER_SPLIT:
        assert loaded[config] == {
            s: pq.read_metadata(summary.out / "data" / config / f"{s}.parquet").num_rows
            for s in summary.surgeries
        }, config
    assert loaded["surgeries"] == summary.surgeries
    assert loaded["splits"] == {"full": sum(summary.surgeries.values())}
    assert loaded["signals_columns"][:2] == ["surgery_id", "minute"]
    assert "map_mmhg" in loaded["signals_columns"]
    assert "aki" in loaded["labels_columns"]
    assert loaded["default"] == sorted(loaded["surgeries_columns"]), "surgeries is the default"


def test_mlcroissant_validates_and_loads_the_signals_with_their_reference(released):
    _, _, _, summary = released
    croissant = summary.out / "croissant.json"
    check = subprocess.run(
        [MLCROISSANT, "validate", "--jsonld", str(croissant)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr[-2000:]
    assert "error" not in check.stderr.lower() and "warning" not in check.stderr.lower()
    load = subprocess.run(
        [
            MLCROISSANT,
            "load",
            "--jsonld",
            str(croissant),
            "--record_set",
            "signals",
            "--num_records",
            "3",
        ],
        capture_output=True,
        text=True,
    )
    assert load.returncode == 0, load.stderr[-2000:]
    assert "signals/map_mmhg" in load.stdout
    document = json.loads(croissant.read_text())
    sets = {r["name"]: r for r in document["recordSet"]}
    assert set(sets) == {"surgeries", "labels", "labs", "signals", "splits"}
    for name, record_set in sets.items():
        columns = {f["name"] for f in record_set["field"]}
        first = next(iter(PER_SPLIT.get(name, ["surgery_id"])))
        assert columns == set(pq.read_schema(_any_file(summary.out, name)).names), name
        assert first in columns
        surgery = next(f for f in record_set["field"] if f["name"] == "surgery_id")
        if name != "surgeries":
            assert surgery["references"] == {"field": {"@id": "surgeries/surgery_id"}}, name
    assert "synthetic" in document["description"].lower()


def _any_file(out: Path, name: str) -> Path:
    return (
        out / "data" / "splits.parquet"
        if name == "splits"
        else out / "data" / name / "train.parquet"
    )


def test_same_staging_same_bytes(released, tmp_path):
    _, _, staging, summary = released
    again = write_release_files(staging, tmp_path / "again", TEXT)
    assert again.files == summary.files
    for relative in summary.files:
        assert (summary.out / relative).read_bytes() == (again.out / relative).read_bytes()


def test_no_canary_reaches_the_release_files(released):
    _, canary, _, summary = released
    everything = _everything(summary.out)
    assert everything, "the release was read"
    for key, value in canary.items():
        assert _fold(value) not in everything, f"{key} {value!r} leaked into the release"
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 6:
            assert digits not in everything, f"{key} {digits} leaked into the release"
    raw_bytes = b"".join(p.read_bytes() for p in summary.out.rglob("*") if p.is_file())
    for key in ("family", "ipp", "nir", "email", "phone"):
        assert canary[key].encode() not in raw_bytes, key


def test_k_and_l_of_the_release_recomputed_with_pycanon_meet_the_policy(released):
    from pycanon import anonymity

    _, _, _, summary = released
    out = summary.out
    surgeries = pd.concat(
        pq.read_table(out / "data" / "surgeries" / f"{s}.parquet").to_pandas()
        for s in summary.surgeries
    )
    labels = pd.concat(
        pq.read_table(out / "data" / "labels" / f"{s}.parquet").to_pandas()
        for s in summary.surgeries
    )
    table = surgeries.merge(labels, on="surgery_id")
    assert len(table) == len(surgeries)
    qis = CARD["quasi_identifiers"]
    table[qis] = table[qis].astype(str)
    table["aki"] = table["aki"].astype(str)
    assert anonymity.k_anonymity(table, qis) >= CARD["k"]
    assert anonymity.l_diversity(table, qis, ["aki"]) >= CARD["l"]
    card = (out / "README.md").read_text()
    report = json.loads((out / "deid_report.json").read_text())
    assert f"reached k = {report['risk']['k']}, l = {report['risk']['l']}" in card


def test_the_card_says_synthetic_and_declares_a_config_per_table(released):
    import yaml

    _, _, _, summary = released
    text = (summary.out / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == [*PER_SPLIT, "splits"]
    assert "synthetic" in header["tags"]
    assert "Synthetic data" in text.split("---\n", 2)[2][:600]


def test_a_staging_with_an_unknown_file_is_refused_naming_it(released, tmp_path):
    _, _, staging, _ = released
    copy = tmp_path / "staging"
    shutil.copytree(staging, copy)
    (copy / "notes.parquet").write_bytes(b"x")
    with pytest.raises(InputError, match=r"notes\.parquet: a file the tabular release"):
        write_release_files(copy, tmp_path / "out", TEXT)
    assert not (tmp_path / "out").exists()


def test_a_staging_the_verifier_did_not_accept_is_refused(released, tmp_path):
    _, _, staging, _ = released
    copy = tmp_path / "staging"
    shutil.copytree(staging, copy)
    verdict = json.loads((copy / "verification.json").read_text())
    (copy / "verification.json").write_text(json.dumps({**verdict, "findings": ["a name"]}))
    with pytest.raises(InputError, match="did not accept"):
        write_release_files(copy, tmp_path / "out", TEXT)
