"""The tabular modality on a small synthetic ML-KIDCAR export: the generator is faithful and
deterministic, canary identifiers planted everywhere never reach the de-identified output,
k and ℓ recomputed with pycanon meet the card, the independent verifier refuses a release
that breaks them, and bad input is refused in one line naming file and line."""

from __future__ import annotations

import ast
import csv
import datetime as dt
import json
import re
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from portal.errors import InputError
from portal.synth.mlkidcar.cohort import nir_key
from portal.synth.mlkidcar.export import synthesize
from portal.tabular.contract import read_export
from portal.tabular.deid import Policy, deidentify
from portal.tabular.verify import verify_tabular

ROOT = Path(__file__).resolve().parent.parent
KEY = bytes(range(32))
CARD = {"quasi_identifiers": ["age", "sex", "centre", "procedure", "urgency"], "k": 5, "l": 2}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kidcar") / "mlkidcar"
    synthesize(out, surgeries=160, seed=7)
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Enough surgeries to measure the clinical model."""
    out = tmp_path_factory.mktemp("kidcar-cohort") / "mlkidcar"
    synthesize(out, surgeries=700, seed=3)
    return out


# ---------------------------------------------------------------- the generator


def test_same_seed_same_bytes_other_seed_other_bytes(export, tmp_path):
    again = tmp_path / "again"
    synthesize(again, surgeries=160, seed=7)
    assert (again / "SHA256SUMS").read_bytes() == (export / "SHA256SUMS").read_bytes()
    other = tmp_path / "other"
    synthesize(other, surgeries=160, seed=8)
    assert (other / "SHA256SUMS").read_bytes() != (export / "SHA256SUMS").read_bytes()


def test_the_export_says_it_is_synthetic(export):
    notice = (export / "README.md").read_text()
    assert "SYNTHETIC DATA" in notice and "No real patient" in notice
    described = json.loads((export / "export.json").read_text())
    assert described["generator"]["name"] == "portal synth"
    assert "Synthetic data" in described["generator"]["note"]


def test_identifiers_look_like_what_hospitals_send(export):
    patients = _rows(export / "patients.csv")
    for row in patients:
        nir = row["nir"]
        assert len(nir) == 15 and int(nir[13:]) == nir_key(nir[:13]), nir
        assert nir[0] == ("1" if row["sex"] == "M" else "2")
        born = dt.date.fromisoformat(row["birth_date"])
        assert nir[1:5] == f"{born.year % 100:02d}{born.month:02d}"
        assert re.fullmatch(r"0[1-9]\d{8}", row["phone"])
        assert re.fullmatch(r"\d{5}", row["postcode"])
    assert any(row["email"] for row in patients)
    notes = _rows(export / "notes.csv")
    assert all("IPP" in n["text"] and "Dr" in n["text"] for n in notes)
    files = sorted((export / "signals").rglob("*.csv"))
    assert all(re.fullmatch(r"MON_\w+_\d{8}T\d{4}\.csv", f.name) for f in files)
    assert all(f.read_text().startswith("# ") for f in files[:10])


def test_the_clinical_model_is_faithful_and_learnable(cohort):
    surgeries = pd.read_csv(cohort / "surgeries.csv")
    outcomes = pd.read_csv(cohort / "outcomes.csv")
    truth = pd.read_csv(cohort / "_synth" / "truth.csv")
    assert surgeries["centre"].nunique() >= 4
    assert surgeries["ipp"].duplicated().any(), "some patients are operated twice"
    assert (surgeries["age"] >= 90).any(), "the very old are there, and rare"
    assert set(surgeries["procedure"]) >= {"CABG", "valve", "combined", "aortic"}
    prevalence = outcomes["aki"].mean()
    assert 0.18 <= prevalence <= 0.33, prevalence
    noisy = (truth["true_stage"] > 0) != (truth["recorded_stage"] > 0)
    assert 0 < noisy.mean() < 0.08, "a little label noise, not more"
    # caused by its drivers: the generator's risk ranks the recorded label well, not perfectly
    merged = truth.merge(outcomes, on="surgery_id")
    auc = _auroc(merged["aki"].to_numpy(), merged["aki_risk"].to_numpy())
    assert 0.7 < auc < 0.97, auc
    # and what a model sees carries it: minutes of monitored MAP < 65 outside bypass
    minutes = []
    for sid in merged["surgery_id"]:
        frames = [
            pd.read_csv(f, comment="#") for f in sorted((cohort / "signals" / sid).glob("*.csv"))
        ]
        signal = pd.concat(frames)
        off_bypass = signal["cpb_flow_l_min"] == 0
        minutes.append(int(((signal["map_mmhg"] < 65) & off_bypass).sum()))
    assert _auroc(merged["aki"].to_numpy(), np.array(minutes)) > 0.55


def test_signals_have_gaps_and_artefacts_as_monitors_produce_them(cohort):
    gaps = artefacts = empty = 0
    for path in sorted((cohort / "signals").rglob("*.csv"))[:150]:
        signal = pd.read_csv(path, comment="#")
        stamps = pd.to_datetime(signal["timestamp"])
        gaps += int((stamps.diff().dt.total_seconds() > 60).sum())
        artefacts += int((signal["map_mmhg"] > 200).sum() + (signal["map_mmhg"] == 0).sum())
        empty += int(signal["spo2_pct"].isna().sum())
        assert signal["timestamp"].is_monotonic_increasing
    assert gaps > 10 and artefacts > 10 and empty > 100


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels.astype(bool)
    n1, n0 = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# ---------------------------------------------------------------- canaries

CANARY = {
    "family": "ZORGLUBIX",
    "given": "Canarine",
    "birth_name": "TOURNESOLIX",
    "ipp": "77991177",
    "address": "7 impasse Canaritude",
    "city": "Canaryville",
    "postcode": "97999",
    "phone": "0655443322",
    "email": "canarine.zorglubix@exemple.fr",
    "stay": "CNR2398765",
    "surgeon": "Dr Canarius FAUXNOMIS",
    "anaesthetist": "Dr Perruche COLIBRIX",
    "room": "Salle Canari 9",
    "relative": "Cassiopée PIPISTRELLIX",
    "relative_phone": "06 12 21 12 21",
}


def _canary_nir(sex: str, born: dt.date) -> str:
    body = f"{1 if sex == 'M' else 2}{born.year % 100:02d}{born.month:02d}75123456"
    return body + f"{nir_key(body):02d}"


def _plant(export: Path, target: Path) -> dict[str, str]:
    """Copy ``export`` and plant canaries in every identifying place of one patient."""
    shutil.copytree(export, target)
    surgeries = _rows(target / "surgeries.csv")
    first = surgeries[0]
    patients = _rows(target / "patients.csv")
    person = next(p for p in patients if p["ipp"] == first["ipp"])
    old = {
        "ipp": person["ipp"],
        "family": person["family_name"],
        "given": person["given_name"],
        "surgeon": first["surgeon"],
        "anaesthetist": first["anaesthetist"],
        "room": first["operating_room"],
    }
    born = dt.date.fromisoformat(person["birth_date"])
    canary = dict(CANARY, nir=_canary_nir(person["sex"], born))
    person.update(
        ipp=canary["ipp"],
        nir=canary["nir"],
        family_name=canary["family"],
        birth_name=canary["birth_name"],
        given_name=canary["given"],
        address=canary["address"],
        city=canary["city"],
        postcode=canary["postcode"],
        phone=canary["phone"],
        email=canary["email"],
    )
    _write_rows(target / "patients.csv", patients)
    for row in surgeries:
        if row["ipp"] == old["ipp"]:
            row.update(ipp=canary["ipp"], stay_number=canary["stay"])
        if row["surgeon"] == old["surgeon"]:
            row["surgeon"] = canary["surgeon"]
        if row["anaesthetist"] == old["anaesthetist"]:
            row["anaesthetist"] = canary["anaesthetist"]
        if row["operating_room"] == old["room"]:
            row["operating_room"] = canary["room"]
    _write_rows(target / "surgeries.csv", surgeries)
    notes = _rows(target / "notes.csv")
    for row in notes:
        text = row["text"]
        for key in ("ipp", "surgeon", "anaesthetist", "room"):
            text = text.replace(old[key], canary[key])
        if row["surgery_id"] == first["surgery_id"]:
            text = text.replace(old["family"].upper(), canary["family"])
            text = text.replace(old["given"], canary["given"])
            text += (
                f"\nVu avec Mme {canary['relative']} au {canary['relative_phone']}, "
                f"{canary['address']} à {canary['city']}, le 14/07/2023."
            )
            row["author"] = canary["surgeon"]
        row["text"] = text
    _write_rows(target / "notes.csv", notes)
    for path in sorted((target / "signals").rglob("*.csv")):
        text = path.read_text()
        for key in ("ipp", "room"):
            text = text.replace(old[key], canary[key])
        text = text.replace(f"{old['family'].upper()} {old['given']}", canary["family"])
        path.write_text(text)
        if old["ipp"] in path.name:
            path.rename(path.with_name(path.name.replace(old["ipp"], canary["ipp"])))
    canary["first_surgery"] = first["surgery_id"]
    canary["birth_date"] = person["birth_date"]
    return canary


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def _everything(folder: Path) -> str:
    """Every cell, column name and file name of a de-identified folder, as one text."""
    parts = []
    for path in sorted(folder.rglob("*")):
        parts.append(path.relative_to(folder).as_posix())
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            parts.extend(table.column_names)
            for column in table.columns:
                parts.extend(str(v) for v in pc_unique(column))
        elif path.is_file():
            parts.append(path.read_text(errors="replace"))
    return _fold("\n".join(parts))


def pc_unique(column: pa.ChunkedArray) -> list:
    import pyarrow.compute as pc

    return pc.unique(column).to_pylist()


@pytest.fixture(scope="module")
def canaried(export, tmp_path_factory) -> tuple[Path, dict[str, str], Path, Path]:
    root = tmp_path_factory.mktemp("canary")
    raw = root / "raw"
    canary = _plant(export, raw)
    out, private = root / "staging", root / "private"
    deidentify(raw, out, private, key=KEY, policy=Policy.from_card(CARD))
    return raw, canary, out, private


def test_canaries_are_in_every_identifying_place_of_the_input(canaried):
    raw, canary, _, _ = canaried
    text = "\n".join(p.read_text() for p in raw.rglob("*.csv"))
    names = "\n".join(p.name for p in raw.rglob("*"))
    for key in ("ipp", "nir", "family", "given", "address", "city", "phone", "email"):
        assert canary[key] in text, key
    assert canary["ipp"] in names, "the time-series file name carries the IPP"
    note = next(r for r in _rows(raw / "notes.csv") if r["surgery_id"] == canary["first_surgery"])
    assert canary["family"] in note["text"] and canary["relative"] in note["text"]


def test_no_canary_reaches_the_deidentified_output(canaried):
    _, canary, out, _ = canaried
    everything = _everything(out)
    for key, value in canary.items():
        assert _fold(value) not in everything, f"{key} {value!r} leaked"
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 6:
            assert digits not in everything, f"{key} {digits} leaked"
    assert _fold(canary["first_surgery"]) not in everything, "input IDs are replaced"
    assert not (out / "notes.parquet").exists()


def test_the_verifier_accepts_the_deidentified_output(canaried):
    raw, _, out, private = canaried
    result = verify_tabular(raw, out, private, CARD)
    assert result.ok, result.findings
    assert result.values_searched > 500 and result.k >= 5 and result.l >= 2


def test_k_and_l_recomputed_with_pycanon_meet_the_card(canaried):
    from pycanon import anonymity

    _, _, out, _ = canaried
    surgeries = pq.read_table(out / "surgeries.parquet").to_pandas()
    labels = pq.read_table(out / "labels.parquet").to_pandas()
    table = surgeries.merge(labels, on="surgery_id")
    qis = CARD["quasi_identifiers"]
    table[qis] = table[qis].astype(str)
    table["aki"] = table["aki"].astype(str)
    assert anonymity.k_anonymity(table, qis) >= CARD["k"]
    assert anonymity.l_diversity(table, qis, ["aki"]) >= CARD["l"]
    report = json.loads((out / "deid_report.json").read_text())
    assert report["risk"]["k"] >= CARD["k"] and report["risk"]["l"] >= CARD["l"]
    assert report["risk"]["k_rows"] == anonymity.k_anonymity(table, qis)
    assert report["risk"]["generalisation"].keys() == set(qis)


def test_dates_are_shifted_once_per_patient_and_intervals_kept(canaried):
    raw, _, out, private = canaried
    linkage = pd.read_csv(private / "linkage.csv")
    assert linkage.groupby("ipp")["shift_days"].nunique().max() == 1
    assert (linkage["shift_days"].abs() >= 30).all()
    before = pd.read_csv(raw / "surgeries.csv", parse_dates=["surgery_start", "surgery_end"])
    after = pq.read_table(out / "surgeries.parquet").to_pandas()
    merged = after.merge(linkage, on="surgery_id").merge(
        before, left_on="input_surgery_id", right_on="surgery_id", suffixes=("", "_in")
    )
    assert len(merged) == len(after)
    assert (
        (merged["surgery_end"] - merged["surgery_start"])
        == (merged["surgery_end_in"] - merged["surgery_start_in"])
    ).all()
    assert (
        (merged["surgery_start"] - merged["surgery_start_in"]).dt.days == merged["shift_days"]
    ).all()
    signals = pq.read_table(out / "signals.parquet", columns=["minute"]).column(0).to_numpy()
    assert signals.min() >= 0 and signals.max() < 8 * 60 + 60


def test_ages_at_90_and_over_are_grouped(export, tmp_path):
    surgeries = _rows(export / "surgeries.csv")
    surgeries[0]["age"] = "93"
    shutil.copytree(export, tmp_path / "raw")
    _write_rows(tmp_path / "raw" / "surgeries.csv", surgeries)
    policy = Policy.from_card({"quasi_identifiers": ["sex"], "k": 2, "l": 1})
    deidentify(tmp_path / "raw", tmp_path / "out", tmp_path / "private", key=KEY, policy=policy)
    ages = set(pq.read_table(tmp_path / "out" / "surgeries.parquet").column("age").to_pylist())
    assert "90+" in ages or "93" not in ages
    assert not any(a.isdigit() and int(a) >= 90 for a in ages)


# ---------------------------------------------------------------- the verifier refuses


def _broken(out: Path, tmp_path: Path, change) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(out, copy)
    table = pq.read_table(copy / "surgeries.parquet").to_pandas()
    table = change(table)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), copy / "surgeries.parquet")
    return copy


def test_the_verifier_refuses_a_release_that_breaks_k(canaried, tmp_path):
    raw, _, out, private = canaried

    def single_out(table):
        table.loc[0, "centre"] = "centre-z"  # a class of one patient
        return table

    result = verify_tabular(raw, _broken(out, tmp_path, single_out), private, CARD)
    assert any("k-anonymity" in f for f in result.findings), result.findings


def test_the_verifier_refuses_a_release_that_breaks_l(canaried, tmp_path):
    raw, _, out, private = canaried
    copy = tmp_path / "broken-l"
    shutil.copytree(out, copy)
    labels = pq.read_table(copy / "labels.parquet").to_pandas()
    labels["aki"] = False  # every class now holds one value of the label
    pq.write_table(pa.Table.from_pandas(labels, preserve_index=False), copy / "labels.parquet")
    result = verify_tabular(raw, copy, private, CARD)
    assert any("l-diversity" in f for f in result.findings), result.findings


@pytest.mark.parametrize(
    "what",
    ["name in a cell", "nir in a column name", "shift broken", "free text", "phone"],
)
def test_the_verifier_finds_what_leaked(canaried, tmp_path, what):
    raw, canary, out, private = canaried

    def change(table):
        if what == "name in a cell":
            table["sex"] = table["sex"].astype(object)
            table.loc[1, "sex"] = canary["family"].title()
        elif what == "nir in a column name":
            table = table.rename(columns={"bmi": f"bmi_{canary['nir']}"})
        elif what == "shift broken":
            table.loc[0, "surgery_end"] = table.loc[0, "surgery_end"] + pd.Timedelta(days=1)
        elif what == "free text":
            table["urgency"] = table["urgency"].astype(object)
            table.loc[2, "urgency"] = "patient vu en urgence par le chirurgien de garde"
        else:
            table["procedure"] = table["procedure"].astype(object)
            table.loc[3, "procedure"] = "rappeler le 06 98 76 54 32"
        return table

    result = verify_tabular(raw, _broken(out, tmp_path, change), private, CARD)
    assert result.findings, what


def test_the_verifier_shares_no_code_with_the_deidentifier():
    def imports(folder: Path) -> set[str]:
        found = set()
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found.add(node.module)
                elif isinstance(node, ast.Import):
                    found.update(a.name for a in node.names)
        return {m for m in found if m.startswith("portal")}

    tabular = ROOT / "portal" / "tabular"
    verify = imports(tabular / "verify")
    assert all(m.startswith("portal.tabular.verify") for m in verify), verify
    deid = imports(tabular / "deid") | imports_of(tabular / "contract.py")
    assert not any(m.startswith("portal.tabular.verify") for m in deid), deid


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {m for m in found if m.startswith("portal")}


# ---------------------------------------------------------------- bad input


def _bad(export: Path, tmp_path: Path, kind: str) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(export, raw)
    surgeries = _rows(raw / "surgeries.csv")
    if kind == "missing column":
        for row in surgeries:
            del row["cpb_minutes"]
        _write_rows(raw / "surgeries.csv", surgeries)
    elif kind == "non-numeric value":
        surgeries[4]["weight_kg"] = "82,5 kg"
        _write_rows(raw / "surgeries.csv", surgeries)
    elif kind == "unknown surgery":
        folder = raw / "signals" / surgeries[0]["surgery_id"]
        folder.rename(raw / "signals" / "KDC-S99999")
    elif kind == "overlapping times":
        path = sorted((raw / "signals" / surgeries[1]["surgery_id"]).glob("*.csv"))[0]
        lines = path.read_text().splitlines()
        lines.insert(12, lines[11])  # the same minute twice
        path.write_text("\n".join(lines) + "\n")
    elif kind == "non-numeric signal":
        path = sorted((raw / "signals" / surgeries[2]["surgery_id"]).glob("*.csv"))[0]
        lines = path.read_text().splitlines()
        cells = lines[20].split(",")
        cells[1] = "ART?"
        lines[20] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n")
    return raw


@pytest.mark.parametrize(
    ("kind", "where", "what"),
    [
        ("missing column", "surgeries.csv: line 1", "missing column 'cpb_minutes'"),
        ("non-numeric value", "surgeries.csv: line 6", "weight_kg: '82,5 kg' is not a number"),
        ("unknown surgery", "signals/KDC-S99999/MON_", "not in surgeries.csv"),
        ("overlapping times", "signals/", "overlapping times"),
        ("non-numeric signal", "signals/", "line 21, column map_mmhg: 'ART?' is not a number"),
    ],
)
def test_bad_input_gets_one_line_naming_file_and_line(export, tmp_path, kind, where, what):
    raw = _bad(export, tmp_path, kind)
    with pytest.raises(InputError) as caught:
        read_export(raw)
    message = caught.value.message
    assert "\n" not in message, message
    assert message.startswith(where.split(":")[0]) and where in message, message
    assert what in message, message
    if kind == "overlapping times":
        assert re.search(r"\.csv: line \d+:", message), message
    assert caught.value.hint


# ---------------------------------------------------------------- ingest: deid, then verify


def test_ingest_stages_only_what_the_verifier_accepts(export, tmp_path, monkeypatch):
    from portal.errors import VerificationError
    from portal.tabular import ingest
    from portal.tabular.deid import tables

    data = tmp_path / "data"
    said: list = []
    done = ingest.ingest_tabular(
        export,
        data,
        key=KEY,
        card_block=CARD,
        progress=lambda n: said.append(n),
        on_total=lambda n: said.append(("total", n)),
        on_phase=said.append,
    )
    assert done.report["risk"]["k"] >= 5 and "0 finding(s)" in done.verifier[0]
    # its progress: three steps, each named when it starts and counted when it ends
    assert said == [
        ("total", 3),
        "read and validate (step 1 of 3)",
        1,
        "de-identify (step 2 of 3)",
        1,
        "verify (step 3 of 3)",
        1,
    ]
    before = {p.name: p.read_bytes() for p in (data / "staging").iterdir()}
    # a de-identifier that forgets a column: the verifier refuses, the staging stays as it was
    monkeypatch.setattr(
        tables, "RELEASED_SURGERY_COLUMNS", (*tables.RELEASED_SURGERY_COLUMNS, "surgeon")
    )
    with pytest.raises(VerificationError) as caught:
        ingest.ingest_tabular(export, data, key=KEY, card_block=CARD)
    assert any("surgeon" in p for p in caught.value.problems), caught.value.problems
    assert {p.name: p.read_bytes() for p in (data / "staging").iterdir()} == before


def test_the_verifier_refuses_rows_of_a_suppressed_surgery(canaried, tmp_path):
    raw, _, out, private = canaried
    copy = tmp_path / "orphan"
    shutil.copytree(out, copy)
    surgeries = pq.read_table(copy / "surgeries.parquet").to_pandas()
    pq.write_table(
        pa.Table.from_pandas(surgeries.iloc[1:], preserve_index=False), copy / "surgeries.parquet"
    )
    result = verify_tabular(raw, copy, private, CARD)
    assert any("not in surgeries.parquet" in f for f in result.findings), result.findings


def test_pseudonyms_hold_no_digit_and_no_vowel(canaried):
    _, _, out, _ = canaried
    ids = pq.read_table(out / "surgeries.parquet", columns=["surgery_id", "patient_id"])
    for value in ids.column(0).to_pylist() + ids.column(1).to_pylist():
        assert re.fullmatch(r"[sp]-[bcdfghjkmnpqrstvwxz]{12}", value), value


def test_an_alphanumeric_id_is_not_searched_as_its_digits_joined(tmp_path):
    """'2B07590' (a Corsican IPP) holds no six-digit number: a release holding 207590 in a
    longer number is not refused for it, one holding the IPP itself is."""
    from portal.tabular.verify.checks import Verification, _Release, _search_values
    from portal.tabular.verify.inputs import InputFacts

    facts = InputFacts(values={"2B07590": "patients.csv:ipp", "0612211221": "patients.csv:phone"})
    folder = tmp_path / "release"
    folder.mkdir()
    table = pa.table({"code": ["x-12075900", "ok"]})
    pq.write_table(table, folder / "t.parquet")
    result = Verification()
    _search_values(_Release(folder), facts, result)
    assert result.findings == []
    pq.write_table(pa.table({"code": ["2b07590", "n0612211221"]}), folder / "t.parquet")
    result = Verification()
    _search_values(_Release(folder), facts, result)
    assert len(result.findings) == 2, result.findings


def test_synth_never_regenerates_over_a_corrected_export(tmp_path):
    from portal.errors import OutputExistsError

    out = tmp_path / "mlkidcar"
    synthesize(out, surgeries=20, seed=1)
    synthesize(out, surgeries=20, seed=2, overwrite=True)  # its own export: replaced
    with open(out / "labs.csv", "a") as handle:
        handle.write("KDC-S00001,2022-01-01 06:00,90\n")  # the organiser corrected it
    with pytest.raises(OutputExistsError, match=r"labs\.csv differs"):
        synthesize(out, surgeries=20, seed=3, overwrite=True)
