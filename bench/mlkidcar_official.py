"""Record the official ML-KIDCAR scores once, as the challenge platform would have.

``python -m bench.mlkidcar_official [--surgeries 2000] [--seed 0] [--write [--overwrite]]``

This records what ``portal reproduce mlkidcar`` is then judged against. It runs each
team's steps exactly as ``portal reproduce`` runs them, through the same functions: the
team's pinned environment (``portal.reproduce.environments.ensure``, cached in
``.portal-envs/``), and ``portal.reproduce.reproduction.execute``: the
numerics probe, then ``train``, ``predict`` on public_test and private_test, and
``explain``, each in the bubblewrap sandbox with the team's resource limits, without
network, under the portal's **portable** numerics (one thread, x86-64-v2 kernels), the
release mounted read-only. The release is the embedded default: the synthetic export
(``portal synth mlkidcar``, 2,000 surgeries, seed 0), ingested with the key
``portal ingest`` derives for a synthetic export, written by
``portal.tabular.release.write_release_files``. The teams see the training view
``portal reproduce`` gives them (``portal.reproduce.modalities.TabularRelease``, set by
``reproduce/mlkidcar/challenge.yaml``): the labels of every split but ``train`` nulled
(same schema), the post-operative creatinine of those splits and the dataset card (it
counts AKI per split) left out.

The portal, not the team, scores the predictions against the release's labels, with the
metrics ``portal reproduce`` uses (``portal.reproduce.metrics``): AUROC (official,
``roc_auc``), AUPRC (``average_precision``) and the Brier score (``brier_score``),
rounded to 4 decimals as the challenge displayed them. Ranks follow the private AUROC.
``--write`` writes ``reproduce/mlkidcar/leaderboard.csv`` with a header saying how and
when, and ``reproduce/mlkidcar/official_scores.json`` with the secondary metrics and the run
records' essentials; without it, the scores are printed only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHALLENGE = ROOT / "reproduce" / "mlkidcar"
SCORED = ("public_test", "private_test")


def build_release(work: Path, surgeries: int, seed: int) -> Path:
    from portal.deid.keys import load_key
    from portal.synth.mlkidcar.export import synthesize
    from portal.tabular.ingest import ingest_tabular
    from portal.tabular.release import ReleaseText, write_release_files

    export = work / "raw" / "mlkidcar"
    synthesize(export, surgeries=surgeries, seed=seed)
    key = load_key("mlkidcar", export=export, create=False)
    done = ingest_tabular(export, work / "data", key=key)
    text = ReleaseText(
        name="mlkidcar",
        title="ML-KIDCAR (synthetic)",
        summary="Acute kidney injury after cardiac surgery: the synthetic export.",
        version="1.0.0",
        date="2026-12-03",
        synthetic=True,
    )
    return write_release_files(done.staging, work / "release", text).out


def reader():
    """ML-KIDCAR's rules, the card's classes (class -> number, the positive class 1) and
    the reproduction's reader of a tabular release for them."""
    from portal.release.cards import card_path, load_card
    from portal.reproduce.modalities import release_reader
    from portal.reproduce.rules import load_challenge

    rules = load_challenge(CHALLENGE / "challenge.yaml")
    card = load_card(ROOT / card_path("mlkidcar")).meta
    index = card.schema.index()
    return rules, index, release_reader(card.data_kind, rules, card.task.target, index)


def score_file(path: Path, split: str, rules, index: dict[str, int], reference) -> dict:
    """The predictions of ``split``, checked as ``portal reproduce`` checks them, scored."""
    from portal.reproduce.metrics import average_precision, brier_score, roc_auc
    from portal.reproduce.reproduction import read_predictions

    named = rules.predictions
    ids, _, scores = read_predictions(
        path, reference.exams(split), index, named.columns, named.noun
    )
    y = np.array([index[reference.labels[i]] for i in ids])
    s = np.array(scores, float)
    return {
        "auroc": round(roc_auc(y, None, s), 4),
        "auprc": round(average_precision(y, None, s), 4),
        "brier": round(brier_score(y, None, s), 4),
        "surgeries": len(ids),
        "prevalence": round(float(y.mean()), 4),
    }


def run_team(team_id: str, view: dict[str, Path], work: Path) -> dict:
    from portal.reproduce import environments, numerics
    from portal.reproduce.reproduction import execute
    from portal.reproduce.sandbox import Limits
    from portal.reproduce.team import load_team

    team = load_team(CHALLENGE / team_id)
    environment = environments.ensure(team.requirements, environments.cache_dir(ROOT))
    res = team.algorithm.resources
    limits = Limits(
        cpu_seconds=res.cpu_seconds,
        memory_bytes=int(res.memory_gb * 1024**3),
        wall_seconds=float(res.wall_seconds),
    )
    run_dir = work / "runs" / team_id / "run"
    attempt = execute(
        team,
        environment,
        view,
        run_dir,
        list(SCORED),
        "private_test",
        limits=limits,
        progress=lambda line: print(f"  {line}", flush=True),
        setting=numerics.PORTABLE,
    )
    if attempt.failure:
        raise SystemExit(f"{team_id}: {attempt.failure}\n{attempt.log_tail[-3000:]}")
    return {
        "team": team,
        "run": run_dir,
        "steps": {
            s["step"]: {"wall_seconds": round(s["wall_seconds"], 1), "ok": s["failure"] is None}
            for s in attempt.steps
        },
        "isolation": attempt.steps[-1]["isolation"],
        "probe": (attempt.numerics.get("probe") or {}),
        "environment": environment.requirements_hash,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--surgeries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teams", nargs="*", default=None)
    parser.add_argument("--write", action="store_true", help="write leaderboard.csv")
    parser.add_argument("--keep", type=Path, default=None, help="copy the runs here")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a recorded leaderboard (never, normally)"
    )
    args = parser.parse_args(argv)
    from portal.reproduce.team import team_ids

    if args.write and (CHALLENGE / "leaderboard.csv").exists() and not args.overwrite:
        raise SystemExit(
            f"{CHALLENGE / 'leaderboard.csv'} exists: the official scores are recorded once. "
            "Run without --write to compare, or with --overwrite if the record itself was wrong."
        )

    teams = args.teams or team_ids(CHALLENGE)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results = {}
    with tempfile.TemporaryDirectory(prefix="mlkidcar-official-") as tmp:
        work = Path(tmp)
        release = build_release(work, args.surgeries, args.seed)
        rules, index, tabular = reader()
        reference = tabular.reference(release)
        view = tabular.training_view(release, work / "cache", "bench", list(rules.training_splits))
        for team_id in teams:
            print(f"== {team_id}", flush=True)
            ran = run_team(team_id, view, work)
            scores = {
                split: score_file(
                    ran["run"] / "predictions" / f"{split}.csv", split, rules, index, reference
                )
                for split in SCORED
            }
            results[team_id] = {**ran, "scores": scores}
            print(f"  {team_id}: {json.dumps(scores)}", flush=True)
        if args.keep:
            shutil.copytree(work / "runs", args.keep, dirs_exist_ok=True)
    ranked = sorted(results, key=lambda t: -results[t]["scores"]["private_test"]["auroc"])
    for rank, team_id in enumerate(ranked, start=1):
        s = results[team_id]["scores"]
        print(
            f"{rank}. {team_id}: AUROC public {s['public_test']['auroc']:.4f}, private "
            f"{s['private_test']['auroc']:.4f}; AUPRC {s['private_test']['auprc']:.4f}, "
            f"Brier {s['private_test']['brier']:.4f}"
        )
    if not args.write:
        return
    today = dt.date.today().isoformat()
    header = [
        "# ML-KIDCAR final leaderboard: the challenge's historical record. Never edit these",
        "# scores to match a later run; reproductions are judged against them.",
        f"# How they were obtained ({today}): each solution was run once as the challenge",
        "# platform did, trained on the train split and scored on public_test",
        "# (development-phase leaderboard) and private_test (final ranking) of the embedded",
        f"# synthetic export ({args.surgeries} surgeries, seed {args.seed}), ingested and released",
        "# by portal.tabular, each step in the portal's sandbox under portable numerics",
        f"# (python -m bench.mlkidcar_official --write, at commit {commit}), and AUROC",
        "# rounded to 4 decimals, as the challenge displayed it. The ranks follow the private",
        "# score. Secondary metrics (AUPRC, Brier): official_scores.json beside this file.",
    ]
    lines = ["team,name,rank,metric,public_score,private_score"]
    for rank, team_id in enumerate(ranked, start=1):
        s = results[team_id]["scores"]
        name = results[team_id]["team"].algorithm.team
        lines.append(
            f"{team_id},{name},{rank},roc_auc,{s['public_test']['auroc']:.4f},"
            f"{s['private_test']['auroc']:.4f}"
        )
    (CHALLENGE / "leaderboard.csv").write_text("\n".join(header + lines) + "\n")
    record = {
        "how": f"python -m bench.mlkidcar_official --surgeries {args.surgeries} --seed "
        f"{args.seed} --write",
        "commit": commit,
        "date": today,
        "numerics": "portable",
        "teams": {
            t: {
                "rank": ranked.index(t) + 1,
                "scores": results[t]["scores"],
                "steps": results[t]["steps"],
                "isolation": results[t]["isolation"],
                "environment_requirements_hash": results[t]["environment"],
            }
            for t in ranked
        },
    }
    (CHALLENGE / "official_scores.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {CHALLENGE / 'leaderboard.csv'} and official_scores.json")


if __name__ == "__main__":
    main()
