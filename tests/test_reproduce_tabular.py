"""``portal reproduce`` on a tabular release (ML-KIDCAR): its reference, the teams' view,
predictions keyed by the rules' id column, AUPRC, Brier score and the calibration curve.

The release is a real one of a small synthetic export (``portal synth``, ``ingest`` and
``release``), in a project holding the real ML-KIDCAR rules, card and the fastest real
team (clinical-logistic).
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from portal.errors import InputError
from portal.reproduce.metrics import average_precision, brier_score, calibration_curve
from portal.reproduce.reproduction import Reproduction, read_predictions

ROOT = Path(__file__).resolve().parent.parent
TEAM = "clinical-logistic"

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/python3").exists(), reason="team environments need Debian's python3"
)


# -- metrics by hand ---------------------------------------------------------------------------
def test_average_precision_by_hand():
    # ranked by score: + - + -: precision 1 at the first positive, 2/3 at the second
    truth = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(truth, None, scores) == pytest.approx((1 + 2 / 3) / 2)
    # a perfect ranking gives 1; tied scores are one threshold (precision 1/2 there)
    assert average_precision(truth, None, np.array([0.9, 0.1, 0.8, 0.2])) == 1.0
    assert average_precision(np.array([1, 0]), None, np.array([0.5, 0.5])) == 0.5
    assert np.isnan(average_precision(np.array([0, 0]), None, np.array([0.2, 0.3])))


def test_brier_score_by_hand():
    truth = np.array([1, 0, 1, 0])
    scores = np.array([1.0, 0.0, 0.5, 0.5])
    assert brier_score(truth, None, scores) == pytest.approx((0 + 0 + 0.25 + 0.25) / 4)
    assert brier_score(truth, None, np.full(4, 0.5)) == pytest.approx(0.25)


def test_calibration_curve_cuts_equal_counts_in_score_order():
    scores = np.array([0.95, 0.05, 0.15, 0.85, 0.55, 0.45, 0.25])
    truth = np.array([1, 0, 0, 1, 1, 0, 1])
    points = calibration_curve(truth, scores, bins=3)
    assert [p["n"] for p in points] == [3, 2, 2]  # 7 cases: the first bin one larger
    first, second, third = points
    assert first["mean_predicted"] == pytest.approx((0.05 + 0.15 + 0.25) / 3)
    assert first["observed"] == pytest.approx(1 / 3)  # 0.25 is the positive
    assert (second["low"], second["high"]) == (0.45, 0.55)
    assert second["observed"] == 0.5
    assert third["observed"] == 1.0 and third["mean_predicted"] == pytest.approx(0.9)
    assert len(calibration_curve(truth, scores, bins=10)) == 7  # never an empty bin


# -- a small tabular project -------------------------------------------------------------------
def _portal(project: Path, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "--project", str(project), "-q", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


def _small_release(project: Path) -> None:
    """``portal synth``, ``ingest`` and ``release`` of a small ML-KIDCAR export."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["reproductions"] = {}
    params["releases"] = {key: params["releases"][key] for key in ["mlkidcar-1.0.0"]}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = str(project / "raw" / "mlkidcar")
    _portal(project, "synth", "mlkidcar", "--exams", "200", "--seed", "3", "--out", out)
    _portal(project, "ingest", "mlkidcar")
    _portal(project, "release", "mlkidcar", "--version", "1.0.0")


def _set_official(project: Path, private: float, public: float) -> None:
    (project / "reproduce" / "mlkidcar" / "leaderboard.csv").write_text(
        "team,name,rank,metric,public_score,private_score\n"
        f"{TEAM},renal-score,1,roc_auc,{public:.4f},{private:.4f}\n"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("kidcar-project")
    (root / "reproduce" / "mlkidcar").mkdir(parents=True)
    shutil.copy(ROOT / "reproduce" / "mlkidcar" / "challenge.yaml", root / "reproduce/mlkidcar")
    shutil.copytree(ROOT / "reproduce" / "mlkidcar" / TEAM, root / "reproduce/mlkidcar" / TEAM)
    shutil.copytree(ROOT / "data_cards", root / "data_cards")
    _small_release(root)
    _set_official(root, 0.5, 0.5)
    return root


@pytest.fixture
def env(project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # the team's real pinned environment, built once per requirements hash and shared
    monkeypatch.setenv("PORTAL_ENV_CACHE", str(ROOT / ".portal-envs"))
    return project


def _labels(release: Path, split: str) -> dict[str, bool]:
    table = pq.read_table(release / "data" / "labels" / f"{split}.parquet").to_pylist()
    return {row["surgery_id"]: row["aki"] for row in table}


def test_the_reference_and_the_view_of_a_tabular_release(env):
    job = Reproduction(env, "mlkidcar", "1.0.0")
    release = job.release
    truth = _labels(release, "private_test")
    assert job.reference.exams("private_test") == sorted(truth)
    assert {job.reference.labels[s] for s in truth} == {"aki", "no_aki"}
    assert all((job.reference.labels[s] == "aki") == truth[s] for s in truth)
    view = job.release_view()
    # the labels of the scored splits are nulled in the view (same columns), train's kept
    seen = pq.read_table(view["data/labels/private_test.parquet"])
    assert seen.schema.names == pq.read_schema(release / "data/labels/private_test.parquet").names
    assert sorted(seen.column("surgery_id").to_pylist()) == sorted(truth)
    assert seen.column("aki").null_count == seen.num_rows
    assert view["data/labels/train.parquet"] == release / "data/labels/train.parquet"
    # the creatinine the label is computed from is left out outside train, and so are the
    # files that count labels or could confirm a guess
    assert "data/labs/train.parquet" in view
    assert not {"data/labs/private_test.parquet", "data/labs/public_test.parquet"} & set(view)
    assert not {"manifest.json", "SHA256SUMS", "README.md", "changes.json"} & set(view)
    assert "CHANGELOG.md" not in view and "croissant.json" in view
    assert "data/surgeries/private_test.parquet" in view


def test_a_tabular_team_reproduces_through_the_command_line(env):
    from typer.testing import CliRunner

    from portal.cli import app

    runner = CliRunner()
    args = ["--project", str(env), "reproduce", "mlkidcar", TEAM, "--release", "1.0.0"]
    done = runner.invoke(app, [*args, "--no-repeat", "--no-hardware-check"])
    assert done.exit_code == 0, done.output
    out = env / "runs" / "mlkidcar" / "1.0.0" / TEAM
    record = json.loads((out / "record.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    # the portal's scores, recomputed here from the predictions file and the release
    release = env / "data" / "mlkidcar" / "releases" / "1.0.0"
    truth = _labels(release, "private_test")
    with (out / "run" / "predictions" / "private_test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["surgery_id"] for r in rows] and {r["surgery_id"] for r in rows} == set(truth)
    y = np.array([truth[r["surgery_id"]] for r in rows], float)
    p = np.array([float(r["score"]) for r in rows])
    assert metrics["brier_score"] == pytest.approx(np.mean((p - y) ** 2))
    # AUPRC: at each distinct score, from the highest, the precision of calling every case
    # at or above it, weighted by the share of the positives that score holds
    expected = sum(
        (y[p == t].sum() / y.sum()) * (y[p >= t].sum() / (p >= t).sum()) for t in np.unique(p)
    )
    assert metrics["average_precision"] == pytest.approx(expected)
    scores = record["scores"]
    assert len(scores["calibration"]) == 10
    assert sum(b["n"] for b in scores["calibration"]) == len(rows)
    assert set(scores["subgroups"]) == {"centre", "sex", "age band", "procedure", "CKD stage"}
    released_ages = {
        str(a) for a in pq.read_table(release / "data/surgeries/private_test.parquet")["age"]
    }
    assert set(scores["subgroups"]["age band"]) <= released_ages | {"?"}
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"roc.png", "confusion.png", "calibration.png"} <= figures
    # the verdict against the leaderboard, and `portal verdicts` prints it
    _set_official(env, round(metrics["reproduced_roc_auc"], 4), round(metrics["public_score"], 4))
    again = runner.invoke(app, [*args, "--no-hardware-check"])
    assert again.exit_code == 0, again.output
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["verdict"] == "reproduced" and verdict["determinism"] is True
    shown = runner.invoke(app, ["--project", str(env), "verdicts", "mlkidcar"])
    assert shown.exit_code == 0 and TEAM in shown.output and "reproduced" in shown.output
    assert (out / "mlflow_run.txt").read_text().strip()


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("surgery_id,score,label\n" + "".join(f"{r}\n" for r in rows))
    return path


COLUMNS = ["surgery_id", "score", "label"]
CLASSES = {"no_aki": 0, "aki": 1}


def test_predictions_for_an_unknown_or_a_missing_surgery_are_refused(tmp_path):
    expected = ["s-a", "s-b", "s-c"]
    unknown = _write(tmp_path / "u.csv", ["s-a,0.1,no_aki", "s-b,0.2,no_aki", "s-x,0.9,aki"])
    with pytest.raises(InputError) as caught:
        read_predictions(unknown, expected, CLASSES, COLUMNS, "surgery")
    problems = caught.value.problems
    assert any("not predicted" in p and "s-c" in p for p in problems)
    assert any("1 surgery(s) not in the split" in p and "s-x" in p for p in problems)
    assert all("\n" not in p for p in problems)
    # keyed by the rules' id column: a DICOM-shaped file is refused on its header
    dicom = tmp_path / "d.csv"
    dicom.write_text("exam_id,score,label\ns-a,0.1,no_aki\ns-b,0.2,no_aki\ns-c,0.3,no_aki\n")
    with pytest.raises(InputError) as caught:
        read_predictions(dicom, expected, CLASSES, COLUMNS, "surgery")
    assert any("expected ['surgery_id', 'score', 'label']" in p for p in caught.value.problems)
    fine = _write(tmp_path / "f.csv", ["s-c,0.3,aki", "s-a,0.1,no_aki", "s-b,0.2,no_aki"])
    ids, predicted, values = read_predictions(fine, expected, CLASSES, COLUMNS, "surgery")
    assert ids == expected and predicted == [0, 0, 1] and values == [0.1, 0.2, 0.3]


def _failed_reason(env, tmp_path, name: str, body: str) -> str:
    """Run the team with ``body`` (a function ``name`` of its predict.py, run after it has
    written its predictions) through `portal reproduce`; the one-line reason of its failed
    verdict."""
    from typer.testing import CliRunner

    from portal.cli import app

    project = tmp_path / "project"
    for folder in ("reproduce", "data_cards", "data"):
        shutil.copytree(env / folder, project / folder)
    predict = project / "reproduce" / "mlkidcar" / TEAM / "predict.py"
    code = predict.read_text()
    marker = "if __name__ == "
    assert marker in code
    predict.write_text(
        code.replace(marker, body + "\n\n\n" + marker, 1).rstrip() + f"\n    {name}()\n"
    )
    done = CliRunner().invoke(
        app,
        [
            *("--project", str(project), "reproduce", "mlkidcar", TEAM),
            *("--release", "1.0.0", "--no-repeat", "--no-hardware-check"),
        ],
    )
    assert "Traceback" not in done.output
    verdict = json.loads(
        (project / "runs" / "mlkidcar" / "1.0.0" / TEAM / "verdict.json").read_text()
    )
    assert verdict["verdict"] == "failed", verdict
    assert "\n" not in verdict["reason"] and "private_test.csv" in verdict["reason"]
    return verdict["reason"]


def test_a_run_with_an_unknown_surgery_fails_with_one_line_naming_it(env, tmp_path):
    """A team whose predictions name a surgery of no split: a failed verdict whose reason
    (one line, in verdict.json and the command's output) names the file and the surgery."""
    reason = _failed_reason(
        env,
        tmp_path,
        "_forge",
        "def _forge():\n"
        "    import sys\n"
        "    out = Path(sys.argv[sys.argv.index('--out') + 1])\n"
        "    with out.open('a') as handle:\n"
        "        handle.write('s-nobodyatall,0.5,aki\\n')",
    )
    assert "s-nobodyatall" in reason and "not in the split" in reason


def test_scores_that_are_not_probabilities_fail_when_brier_and_calibration_need_them(env, tmp_path):
    """ML-KIDCAR's rules ask for the Brier score and a calibration curve: a team writing
    logits (scores outside [0, 1]) fails with one line naming the file and a case."""
    reason = _failed_reason(
        env,
        tmp_path,
        "_logits",
        "def _logits():\n"
        "    import csv, math, sys\n"
        "    out = Path(sys.argv[sys.argv.index('--out') + 1])\n"
        "    rows = list(csv.DictReader(out.open()))\n"
        "    with out.open('w', newline='') as handle:\n"
        "        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))\n"
        "        writer.writeheader()\n"
        "        for row in rows:\n"
        "            p = min(max(float(row['score']), 1e-6), 1 - 1e-6)\n"
        "            row['score'] = repr(math.log(p / (1 - p)))\n"
        "            writer.writerow(row)",
    )
    assert "outside [0, 1]" in reason and "Brier" in reason


# -- the rules ---------------------------------------------------------------------------------
def test_the_mlkidcar_rules_are_read_and_unknown_keys_refused(tmp_path):
    from portal.errors import ConfigError
    from portal.release.cards import card_path, load_card
    from portal.reproduce.rules import check_against, load_challenge

    path = ROOT / "reproduce" / "mlkidcar" / "challenge.yaml"
    rules = load_challenge(path)
    check_against(rules, load_card(ROOT / card_path("mlkidcar")).meta.schema, path)
    assert rules.predictions.columns == ["surgery_id", "score", "label"]
    assert rules.subgroup_names == ["centre", "sex", "age band", "procedure", "CKD stage"]
    assert rules.secondary_plots == ["calibration_curve"] and rules.tables.withheld == ["labs"]
    text = path.read_text()
    for wrong, broken, named in [
        (
            "predictions: {id: surgery_id, score: score, label: label}",
            "predictions: {id: surgery_id, scores: score, label: label}",
            "predictions",
        ),
        ("secondary_plots: [calibration_curve]", "secondary_plots: [pie_chart]", "secondary_plots"),
        ("  - {name: sex, column: sex}", "  - {name: sex, col: sex}", "subgroups"),
        ("  withheld: [labs]", "  withheld: [labs]\n  hidden: [signals]", "tables"),
        ("  withheld: [labs]", "", "withheld"),  # required: forgetting it is refused
    ]:
        assert wrong in text
        bad = tmp_path / "challenge.yaml"
        bad.write_text(text.replace(wrong, broken))
        with pytest.raises(ConfigError) as caught:
            load_challenge(bad)
        shown = " ".join([caught.value.message, *caught.value.problems])
        assert named in shown and "challenge.yaml" in shown


def test_a_subgroup_column_the_release_lacks_is_named_with_its_file(env, tmp_path):
    from portal.errors import ConfigError

    project = tmp_path / "project"
    shutil.copytree(env / "reproduce", project / "reproduce")
    shutil.copytree(env / "data_cards", project / "data_cards")
    shutil.copytree(env / "data", project / "data", symlinks=True)
    rules = project / "reproduce" / "mlkidcar" / "challenge.yaml"
    text = rules.read_text().replace("{name: sex, column: sex}", "{name: sex, column: shoe_size}")
    rules.write_text(text)
    with pytest.raises(ConfigError) as caught:
        Reproduction(project, "mlkidcar", "1.0.0")
    message = caught.value.message
    assert "shoe_size" in message and "surgeries" in message and ".parquet" in message
    assert "\n" not in message


def test_attributions_over_time_are_read_as_hostile_output(tmp_path):
    from portal.reproduce.plots import attributions, read_attributions

    good = tmp_path / "s-good.npz"
    signals = np.linspace(-1, 1, 6 * 50, dtype=np.float32).reshape(6, 50)
    np.savez_compressed(good, signals=signals, attribution=signals * 0.1, score=np.float32(0.3))
    read_signals, weight = read_attributions(good)
    assert read_signals.shape == weight.shape == (6, 50)
    figure = attributions(read_signals, weight, tmp_path / "a.png", "s-good (aki)")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cases = {
        "extra member": dict(signals=signals, attribution=signals, notes=signals),
        "objects": dict(signals=np.array([{"a": 1}], dtype=object), attribution=signals),
        "not finite": dict(signals=signals, attribution=np.full_like(signals, np.nan)),
        "shapes": dict(signals=signals, attribution=signals[:, :10]),
        "too long": dict(
            signals=np.zeros((6, 5000), np.float32), attribution=np.zeros((6, 5000), np.float32)
        ),
    }
    for name, arrays in cases.items():
        path = tmp_path / f"{name.replace(' ', '-')}.npz"
        np.savez(path, **arrays)
        with pytest.raises(ValueError):
            read_attributions(path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"not an \.npz"):
        read_attributions(tmp_path / "junk.npz")


def test_a_tabular_cards_hard_case_flags_are_read_beside_the_label(tmp_path):
    """A tabular challenge whose card declares a hard-case flag gets it per case (not
    silently false everywhere)."""
    import pyarrow as pa

    from portal.reproduce.modalities import release_reader
    from portal.reproduce.rules import Challenge

    release = tmp_path / "release"
    (release / "data" / "labels").mkdir(parents=True)
    (release / "data" / "cases").mkdir(parents=True)
    ids = ["c1", "c2", "c3"]
    pq.write_table(
        pa.table({"case_id": ids, "split": ["test"] * 3}), release / "data" / "splits.parquet"
    )
    pq.write_table(
        pa.table({"case_id": ids, "event": [True, False, True], "hard": [True, False, None]}),
        release / "data" / "labels" / "test.parquet",
    )
    pq.write_table(
        pa.table({"case_id": ids, "site": ["a", "b", "a"]}),
        release / "data" / "cases" / "test.parquet",
    )
    rules = Challenge.model_validate(
        {
            "id": "tiny",
            "title": "tiny",
            "phases": [
                {
                    "name": "final",
                    "start": "2025-01-01",
                    "end": "2025-02-01",
                    "split": "test",
                    "description": "x",
                }
            ],
            "metric": {"official": "roc_auc"},
            "tolerance": 0.01,
            "training_splits": ["train"],
            "scoring_split": "test",
            "predictions": {"id": "case_id", "score": "score", "label": "label"},
            "tables": {"labels": "labels", "cases": "cases", "withheld": []},
            "subgroups": [{"name": "site", "column": "site"}],
        }
    )
    reader = release_reader("tabular", rules, "event", {"no": 0, "yes": 1}, ("hard",))
    reference = reader.reference(release)
    assert reference.labels == {"c1": "yes", "c2": "no", "c3": "yes"}
    assert [reference.fields[c]["hard"] for c in ids] == ["true", "false", ""]
    assert reference.clinical["c2"]["site"] == "b"
