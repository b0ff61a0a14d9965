"""A second challenge of the same modality is files only: no code change.

"Tremor3" is a DICOM challenge unlike DaT-Park: three classes (``control``,
``parkinsonian``, ``atypical``), other split names (``development``, ``validation``,
``holdout``), a hard-case flag of its own (``difficult``), a subgroup column DaT-Park does
not have (``scanner``) and ROC AUC as its official metric, macro one-vs-rest from the
team's per-class scores. Its data card, rules, leaderboard, team and params entries are
files written here; its DICOM files are the synthetic generator's. It goes through
``portal ingest`` -> ``portal release`` -> ``portal reproduce`` (the commands, as an
organiser types them) -> the site, and each stage is checked for the challenge's own names.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from portal.reproduce.metrics import roc_auc
from portal.synth.export import synthesize

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["control", "parkinsonian", "atypical"]
SPLITS = ["development", "validation", "holdout"]
SCANNERS = ["GE Discovery", "Siemens Symbia"]
KEY = "5e" * 32

pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/python3").exists(), reason="team environments need Debian's python3"
)

CARD_FIELDS = """\
  fields:
    - {name: difficult, type: boolean, description: the readers found the exam difficult,
       hard_cases: true, shown_true: difficult, shown_false: easy}
    - {name: scanner, table: clinical, type: text, description: camera model}
"""

RULES = {
    "id": "tremor3",
    "title": "Tremor3: three kinds of tremor on DaT-SPECT (test fixture)",
    "phases": [
        {"name": "open", "start": "2025-01-06", "end": "2025-02-28", "split": "validation"},
        {"name": "closing", "start": "2025-03-03", "end": "2025-03-28", "split": "holdout"},
    ],
    "metric": {"official": "roc_auc", "secondary": ["balanced_accuracy"]},
    "tolerance": 0.01,
    "training_splits": ["development"],
    "scoring_split": "holdout",
    "subgroups": ["scanner", "sex", "difficult"],
    "bootstrap": {"resamples": 200, "seed": 0},
}

#: A team: nearest class centroid on the putamen SBR, scores by softmax of distances.
TEAM = """\
import argparse, csv, json, math, os

parser = argparse.ArgumentParser()
parser.add_argument("step")
for option in ("--release", "--model", "--split", "--out", "--seed"):
    parser.add_argument(option)
a = parser.parse_args()
CLASSES = ["control", "parkinsonian", "atypical"]


def table(name):
    with open(os.path.join(a.release, "metadata", name), newline="") as handle:
        return list(csv.DictReader(handle))


clinical = {r["exam_id"]: r for r in table("clinical.csv")}
split_of = {r["exam_id"]: r["split"] for r in table("splits.csv")}


def sbr(exam):
    row = clinical[exam]
    return min(float(row["sbr_putamen_right"]), float(row["sbr_putamen_left"]))


if a.step == "train":
    labels = {r["exam_id"]: r["label"] for r in table("labels.csv")}
    train = [e for e in clinical if split_of[e] == "development"]
    centres = {c: sum(sbr(e) for e in train if labels[e] == c)
               / max(1, sum(1 for e in train if labels[e] == c)) for c in CLASSES}
    os.makedirs(a.model, exist_ok=True)
    with open(os.path.join(a.model, "model.json"), "w") as handle:
        json.dump(centres, handle)
else:
    with open(os.path.join(a.model, "model.json")) as handle:
        centres = json.load(handle)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["exam_id", "score", "label"] + ["score_" + c for c in CLASSES])
        for exam in sorted(e for e in clinical if split_of[e] == a.split):
            weights = [math.exp(-4 * abs(sbr(exam) - centres[c])) for c in CLASSES]
            probabilities = [w / sum(weights) for w in weights]
            best = max(range(3), key=lambda i: probabilities[i])
            out.writerow([exam, f"{probabilities[best]:.6f}", CLASSES[best]]
                         + [f"{p:.6f}" for p in probabilities])
"""


def portal(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "portal"), "--project", str(root), *args]
    env = {**os.environ, "PORTAL_DEID_KEY": KEY, "PORTAL_ENV_CACHE": str(root / ".envs")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, env=env)
    assert done.returncode == 0, f"portal {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write(path: Path, header: list[str], table: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def tremor_export(export: Path) -> None:
    """The synthetic generator's DICOM exams under Tremor3's own tables: three classes,
    three other splits (at patient level), a difficulty flag and a scanner column."""
    synthesize("datpark", export, exams=36, seed=13, shape=(16, 32, 32))
    rng = np.random.default_rng(3)
    labels = rows(export / "labels.csv")
    patients = sorted({r["patient_id"] for r in labels})
    split_of = {p: SPLITS[i % 3] for i, p in enumerate(rng.permutation(patients))}
    new_labels, splits = [], []
    for r in labels:
        label = "control" if r["label"] == "normal" else CLASSES[1 + int(rng.random() < 0.4)]
        new_labels.append(
            {
                "exam_id": r["exam_id"],
                "patient_id": r["patient_id"],
                "label": label,
                "difficult": r["gray_zone"],
            }
        )
        splits.append({"exam_id": r["exam_id"], "split": split_of[r["patient_id"]]})
    write(export / "labels.csv", ["exam_id", "patient_id", "label", "difficult"], new_labels)
    write(export / "splits.csv", ["exam_id", "split"], splits)
    clinical = rows(export / "clinical.csv")
    for r in clinical:
        r["scanner"] = SCANNERS[int(rng.random() < 0.5)]
    write(export / "clinical.csv", list(clinical[0]), clinical)
    (export / "SHA256SUMS").unlink()  # the tables were rewritten


def tremor_card() -> str:
    """DaT-Park's card (its Datasheet prose stands in) with Tremor3's schema."""
    card = (ROOT / "data_cards" / "datpark.md").read_text()
    card = card.replace("id: datpark", "id: tremor3", 1)
    card = card.replace(
        'title: "DaT-Park: normal vs pathological DaT-SPECT"',
        'title: "Tremor3: three kinds of tremor on DaT-SPECT"',
        1,
    )
    task = (
        "task:\n  type: multiclass-classification\n  target: label\n"
        f"  classes: [{', '.join(CLASSES)}]\n  metric: ROC AUC (one-vs-rest)\n"
        f"  secondary_metrics: [balanced accuracy]\n{CARD_FIELDS}"
    )
    card = re.sub(r"task:\n(  .*\n|    .*\n|       .*\n|\s*#.*\n)+", task, card, count=1)
    policy = "split_policy:\n" + "".join(f"  {s}: public\n" for s in SPLITS)
    card = re.sub(r"split_policy:\n(  .*\n)+", policy, card, count=1)
    return card.replace("pseudonym_prefix: DPK", "pseudonym_prefix: TRM", 1)


@pytest.fixture(scope="module")
def tremor(tmp_path_factory):
    """Tremor3's files in a project, through ingest, release and reproduce."""
    root = tmp_path_factory.mktemp("tremor3")
    tremor_export(root / "raw" / "tremor3")
    (root / "data_cards").mkdir()
    (root / "data_cards" / "tremor3.md").write_text(tremor_card())
    params = {
        "challenges": {"tremor3": {"title": RULES["title"]}},
        "releases": {
            "tremor3-1.0.0": {
                "challenge": "tremor3",
                "version": "1.0.0",
                "date": "2025-06-02",
                "notes": "First release of the Tremor3 fixture.",
            }
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rules = root / "reproduce" / "tremor3"
    (rules / "centroid").mkdir(parents=True)
    (rules / "challenge.yaml").write_text(yaml.safe_dump(RULES, sort_keys=False))
    (rules / "centroid" / "team.py").write_text(TEAM)
    (rules / "centroid" / "requirements.txt").write_text("# standard library only\n")
    (rules / "centroid" / "MODEL_CARD.md").write_text("# centroid\n\nA fixture.\n")
    command = ["{python}", "{code}/team.py"]
    where = ["--release", "{release}", "--model", "{run}/model", "--seed", "{seed}"]
    algorithm = {
        "team": "fixture-centroid",
        "title": "Nearest SBR centroid (fixture)",
        "rank": 1,
        "license": "MIT",
        "upstream": {"repository": "https://example.org/fixture", "commit": "c" * 40},
        "entry_points": {
            "train": [*command, "train", *where],
            "predict": [
                *command,
                "predict",
                *where,
                "--split",
                "{split}",
                "--out",
                "{run}/predictions/{split}.csv",
            ],
        },
        "seeds": [1],
        "resources": {"cpu_seconds": 120, "memory_gb": 2, "wall_seconds": 120},
    }
    (rules / "centroid" / "algorithm.yaml").write_text(yaml.safe_dump(algorithm, sort_keys=False))

    portal(root, "ingest", "tremor3", "--workers", "1")
    portal(root, "release", "tremor3", "--version", "1.0.0")
    release = root / "data" / "tremor3" / "releases" / "1.0.0"
    (rules / "leaderboard.csv").write_text(
        "team,name,rank,metric,public_score,private_score\n"
        f"centroid,fixture-centroid,1,roc_auc,{official(release, 'validation')},"
        f"{official(release, 'holdout')}\n"
    )
    portal(root, "reproduce", "tremor3", "centroid", "--no-repeat", "--no-hardware-check")
    return root


def official(release: Path, split: str) -> float:
    """The challenge's announced score, computed here from the release by the team's
    rule (re-implemented) and the one-vs-rest definition: what the portal must find."""
    clinical = {r["exam_id"]: r for r in rows(release / "metadata" / "clinical.csv")}
    labels = {r["exam_id"]: r["label"] for r in rows(release / "metadata" / "labels.csv")}
    split_of = {r["exam_id"]: r["split"] for r in rows(release / "metadata" / "splits.csv")}

    def sbr(exam):
        return min(float(clinical[exam][f"sbr_putamen_{side}"]) for side in ("right", "left"))

    train = [e for e in labels if split_of[e] == "development"]
    centres = {}
    for c in CLASSES:
        members = [sbr(e) for e in train if labels[e] == c]
        centres[c] = sum(members) / max(1, len(members))
    exams = sorted(e for e in labels if split_of[e] == split)
    scores = []
    for e in exams:
        weights = [np.exp(-4 * abs(sbr(e) - centres[c])) for c in CLASSES]
        scores.append([float(f"{w / sum(weights):.6f}") for w in weights])
    truth = [CLASSES.index(labels[e]) for e in exams]
    return roc_auc(np.array(truth), None, np.array(scores))


def test_ingest_and_release_keep_the_challenges_own_names(tremor):
    release = tremor / "data" / "tremor3" / "releases" / "1.0.0"
    labels = rows(release / "metadata" / "labels.csv")
    assert {r["label"] for r in labels} <= set(CLASSES) and len({r["label"] for r in labels}) == 3
    assert {r["split"] for r in rows(release / "metadata" / "splits.csv")} == set(SPLITS)
    shards = sorted(p.name.split("-")[0] for p in (release / "data").glob("*.parquet"))
    assert set(shards) == set(SPLITS)
    table = pq.read_table(next((release / "data").glob("holdout-*.parquet")))
    assert table.schema.field("difficult").type == "bool"  # typed from the card
    assert "gray_zone" not in table.column_names
    assert table.schema.field("scanner").type == "string"
    readme = (release / "README.md").read_text()
    assert "- difficult share:" in readme and "gray-zone" not in readme
    assert all(f"data/{s}-*" in readme for s in SPLITS)
    croissant = json.loads((release / "croissant.json").read_text())
    exams = next(r for r in croissant["recordSet"] if r["name"] == "exams")
    described = {f["name"]: f["description"] for f in exams["field"]}
    assert described["label"] == "control, parkinsonian or atypical"
    assert described["difficult"] == "the readers found the exam difficult"
    split_field = next(r for r in croissant["recordSet"] if r["name"] == "splits")["field"][1]
    assert split_field["description"] == "development, validation or holdout"


def test_reproduce_scores_three_classes_with_the_challenges_metrics(tremor):
    run = tremor / "runs" / "tremor3" / "1.0.0" / "centroid"
    verdict = json.loads((run / "verdict.json").read_text())
    release = tremor / "data" / "tremor3" / "releases" / "1.0.0"
    assert verdict["verdict"] == "reproduced", verdict["reason"]
    assert verdict["reproduced"] == pytest.approx(official(release, "holdout"), abs=1e-9)
    record = json.loads((run / "record.json").read_text())
    scores = record["scores"]
    assert scores["official_metric"] == "roc_auc"
    assert scores["confusion"]["classes"] == CLASSES
    assert np.array(scores["confusion"]["matrix"]).shape == (3, 3)
    assert scores["roc"] == []
    assert list(scores["subgroups"]) == ["scanner", "sex", "difficult"]
    assert set(scores["subgroups"]["difficult"]) <= {"difficult", "easy"}
    assert set(scores["subgroups"]["scanner"]) <= set(SCANNERS)
    assert {"difficult_balanced_accuracy", "easy_balanced_accuracy"} <= set(scores["metrics"])
    figures = {p.name for p in (run / "figures").iterdir()}
    assert "confusion.png" in figures and "roc.png" not in figures


def test_the_site_shows_the_challenge_in_its_own_words(tremor):
    from portal.site.build import build_site

    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tremor / 'mlflow.db'}"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        result = build_site(tremor, tremor / "site", config_file=ROOT / "mkdocs.yml")
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    site = result.site
    card = (site / "tremor3" / "data-card.html").read_text()
    for word in (*CLASSES, *SPLITS, "Difficult"):
        assert word in card, word
    # the statistics table's columns are the schema's (the card's prose is DaT-Park's)
    assert ">Difficult<" in card and ">Gray zone<" not in card
    overview = (site / "tremor3" / "index.html").read_text()
    assert "one-vs-rest over 3 classes" in overview
    report = next(site.glob("tremor3/teams/centroid*.html")).read_text()
    assert "Per scanner" in report and "Per sex" in report and "Per difficult" in report
    assert "Balanced accuracy, difficult" in report and "Balanced accuracy, easy" in report
    assert "confusion.png" in report and "roc.png" not in report
    assert "Confusion matrix" in report and "ROC curve and confusion matrix" not in report
    french = next(site.glob("fr/tremor3/teams/centroid*.html")).read_text()
    assert "Par scanner" in french
