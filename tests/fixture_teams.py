"""Fixture teams for the reproduction and site tests: standard library only.

One exact, one whose code drifted from the official submission, one that
crashes, one too slow, one that phones home, one that tries to escape.
"""

from __future__ import annotations

from pathlib import Path

import yaml

TEAM = '''\
"""Fixture team: a putamen-SBR threshold from the release's clinical table."""
import argparse, csv, json, math, os, socket, time

BEHAVIOUR = {behaviour!r}
parser = argparse.ArgumentParser()
parser.add_argument("step")
for option in ("--release", "--model", "--split", "--out", "--seed"):
    parser.add_argument(option)
a = parser.parse_args()


def table(name):
    with open(os.path.join(a.release, "metadata", name), newline="") as handle:
        return list(csv.DictReader(handle))


clinical = {{r["exam_id"]: r for r in table("clinical.csv")}}
split_of = {{r["exam_id"]: r["split"] for r in table("splits.csv")}}


def sbr(exam):
    row = clinical[exam]
    return min(float(row["sbr_putamen_right"]), float(row["sbr_putamen_left"]))


if a.step == "train":
    if BEHAVIOUR == "crash":
        raise RuntimeError("weights file corrupted (simulated crash)")
    if BEHAVIOUR == "slow":
        time.sleep(120)
    labels = {{r["exam_id"]: r["label"] for r in table("labels.csv")}}
    if BEHAVIOUR == "peek":
        print("VISIBLE train", sum(1 for e in labels if split_of[e] == "train" and labels[e]))
    if BEHAVIOUR == "hostile":  # links left in the model folder, to files worth stealing
        os.makedirs(a.model, exist_ok=True)
        os.symlink({outside!r}, os.path.join(a.model, "leak"))
        os.symlink("/etc/shadow", os.path.join(a.model, "shadow"))
    train = [e for e in clinical if split_of[e] == "train" and labels[e]]
    means = {{}}
    for label in ("normal", "pathological"):
        values = [sbr(e) for e in train if labels[e] == label]
        means[label] = sum(values) / len(values)
    os.makedirs(a.model, exist_ok=True)
    with open(os.path.join(a.model, "model.json"), "w") as handle:
        json.dump({{"threshold": (means["normal"] + means["pathological"]) / 2}}, handle)
else:
    if BEHAVIOUR == "network":
        socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"predictions")
    if BEHAVIOUR == "escape":
        for target in (os.path.join(a.release, "metadata", "labels.csv"), {outside!r}):
            try:
                open(target, "a").write("tampered")
                print("WROTE", target)
            except OSError as error:
                print("DENIED", target, type(error).__name__)
    if BEHAVIOUR == "peek":  # the answer key: labels of the split being predicted
        labels = {{r["exam_id"]: r["label"] for r in table("labels.csv")}}
        seen = sum(1 for e in labels if split_of[e] == a.split and labels[e])
        print("VISIBLE", a.split, seen)
        import glob
        import pyarrow.parquet as pq
        for shard in sorted(glob.glob(os.path.join(a.release, "data", a.split + "-*.parquet"))):
            column = pq.read_table(shard, columns=["label"]).column("label").to_pylist()
            print("PARQUET", a.split, sum(1 for v in column if v is not None))
        print("FILES", sorted(os.listdir(a.release)))
    with open(os.path.join(a.model, "model.json")) as handle:
        threshold = json.load(handle)["threshold"]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["exam_id", "score", "label"])
        for exam in sorted(e for e in clinical if split_of[e] == a.split):
            p = 1 / (1 + math.exp(4 * (sbr(exam) - threshold)))
            if BEHAVIOUR == "drifted":  # the code changed since the official submission
                p = 1 - p
            out.writerow([exam, f"{{p:.6f}}", "pathological" if p >= 0.5 else "normal"])
'''

COMMAND = [
    "{python}",
    "{code}/team.py",
    "{step}",
    "--release",
    "{release}",
    "--model",
    "{run}/model",
    "--seed",
    "{seed}",
]


def write_team(
    project: Path,
    team: str,
    behaviour: str,
    *,
    port: int = 9,
    wall: float = 120,
    outside: Path | None = None,
    requirements: str = "# standard library only\n",
):
    folder = project / "reproduce" / "datpark" / team
    folder.mkdir(parents=True, exist_ok=True)
    outside = str(outside or project / "outside.txt")
    (folder / "team.py").write_text(TEAM.format(behaviour=behaviour, port=port, outside=outside))
    (folder / "requirements.txt").write_text(requirements)
    (folder / "MODEL_CARD.md").write_text(f"# {team}\n\nA fixture: {behaviour}.\n")
    train = [c.replace("{step}", "train") for c in COMMAND]
    predict = [c.replace("{step}", "predict") for c in COMMAND]
    algorithm = {
        "team": f"fixture-{team}",
        "title": f"Fixture ({behaviour})",
        "rank": 1,
        "license": "MIT",
        "upstream": {"repository": "https://example.org/fixture", "commit": "a" * 40},
        "entry_points": {
            "train": train,
            "predict": [*predict, "--split", "{split}", "--out", "{run}/predictions/{split}.csv"],
        },
        "seeds": [3],
        "resources": {"cpu_seconds": 120, "memory_gb": 2, "wall_seconds": wall},
    }
    (folder / "algorithm.yaml").write_text(yaml.safe_dump(algorithm, sort_keys=False))


def set_official(project: Path, scores: dict[str, tuple[float, float]]) -> None:
    lines = ["team,name,rank,metric,public_score,private_score"]
    for rank, (team, (public, private)) in enumerate(sorted(scores.items()), start=1):
        lines.append(f"{team},fixture-{team},{rank},balanced_accuracy,{public},{private}")
    (project / "reproduce" / "datpark" / "leaderboard.csv").write_text("\n".join(lines) + "\n")
