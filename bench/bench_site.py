"""How the site build grows with the number of challenges: 1 and 10.

One small real project is made first (untimed): a release of synthetic exams,
the DaT-Park challenge folder, and one real reproduction (``sbr-logistic``)
logged to MLflow. Nine more challenges are clones of it: their own data card,
challenge folder, release (hard links) and MLflow experiment, whose run is
logged with the same record and artifacts. Then, timed:

- baseline: a plain ``mkdocs build`` of the hand-written pages (docs/) with the
  same theme, no generated page: the fixed cost of any mkdocs-material site;
- ``portal site build --no-book`` (every generated page, figures drawn, MLflow
  read, mkdocs) for 1 and 10 challenges, in English only and in English and
  French (the site's two languages): the difference is what the second
  language costs;
- the same with the reproduction books, cold (notebooks executed) and warm
  (their cache, keyed on the inputs, reused).

Printed: seconds, ratio to the baseline, and the cost per added challenge.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from functools import partial
from pathlib import Path

import yaml

from bench.common import datpark_release, save, timed

ROOT = Path(__file__).resolve().parent.parent
TEAM = "sbr-logistic"
CONFIG = ROOT / "mkdocs.yml"


def _first(work: Path, exams: int) -> None:
    from portal.reproduce.reproduction import Reproduction

    datpark_release(work, exams=exams, seed=7, key=b"bench-site-key-0123456789abcdefg", workers=1)
    shutil.rmtree(work / "data" / "datpark" / "staging")
    shutil.copytree(ROOT / "data_cards", work / "data_cards")
    (work / "reproduce" / "datpark").mkdir(parents=True)
    for name in ("challenge.yaml", "leaderboard.csv"):
        shutil.copy(ROOT / "reproduce" / "datpark" / name, work / "reproduce" / "datpark")
    shutil.copytree(ROOT / "reproduce" / "datpark" / TEAM, work / "reproduce" / "datpark" / TEAM)
    Reproduction(work, "datpark").run(TEAM, repeat=False)


def _params(work: Path, ids: list[str]) -> None:
    challenges = {cid: {"title": f"DaT-Park clone {cid}"} for cid in ids}
    (work / "params.yaml").write_text(yaml.safe_dump({"challenges": challenges}))


def _clone(work: Path, cid: str) -> None:
    from portal.reproduce import tracking

    card = (work / "data_cards" / "datpark.md").read_text()
    (work / "data_cards" / f"{cid}.md").write_text(card.replace("id: datpark", f"id: {cid}", 1))
    shutil.copytree(work / "reproduce" / "datpark", work / "reproduce" / cid)
    rules = work / "reproduce" / cid / "challenge.yaml"
    rules.write_text(rules.read_text().replace("id: datpark", f"id: {cid}", 1))
    shutil.copytree(
        work / "data" / "datpark" / "releases",
        work / "data" / cid / "releases",
        copy_function=os.link,
    )
    run = work / "runs" / "datpark" / "1.0.0" / TEAM
    record = json.loads((run / "record.json").read_text())
    tracking.log_run(
        work,
        experiment_name=cid,
        run_name=f"{TEAM} @ 1.0.0 #1",
        params={"team": TEAM, "release_version": "1.0.0"},
        tags={
            "team": TEAM,
            "release_version": "1.0.0",
            "challenge": cid,
            "verdict": record["verdict"]["verdict"],
            "deterministic": "None",
        },
        metrics={**json.loads((run / "metrics.json").read_text()), **record["cost"]},
        dataset={
            "uri": str(work / "data" / cid / "releases" / "1.0.0"),
            "name": f"{cid}-1.0.0",
            "digest": record["release"]["content_hash"][7:39],
        },
        artifacts=run,
    )


def _baseline(work: Path) -> float:
    """mkdocs-material on the hand-written pages alone."""
    config = work / "baseline.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "site_name": "baseline",
                "docs_dir": str(ROOT / "docs"),
                "site_dir": str(work / "base"),
                "use_directory_urls": False,
                "theme": {"name": "material", "font": False},
                "plugins": ["search"],
            }
        )
    )
    from portal.site.build import _mkdocs

    seconds, _ = timed(lambda: _mkdocs(config, work / "base", strict=False))
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench site")
    parser.add_argument("--exams", type=int, default=40)
    parser.add_argument("--challenges", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args(argv)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.setdefault("PORTAL_ENV_CACHE", str(ROOT / ".portal-envs"))
    os.environ["NO_MKDOCS_2_WARNING"] = "1"
    from portal.site.build import build_site

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        work = Path(tmp)
        print(f"setting up: {args.exams} exams, one real reproduction …", flush=True)
        _first(work, args.exams)
        made = ["datpark"]
        baseline = _baseline(work)
        print(f"baseline (mkdocs-material, hand-written pages only): {baseline:.2f} s")
        for n in sorted(args.challenges):
            while len(made) < n:
                made.append(f"clone{len(made):02d}")
                _clone(work, made[-1])
            _params(work, made)
            shutil.rmtree(work / ".portal-cache", ignore_errors=True)
            build = partial(build_site, work, work / "site", config_file=CONFIG)
            english, _ = timed(partial(build, book=False, languages=("en",)))
            pages, _ = timed(partial(build, book=False))
            cold, result = timed(build)
            warm, _ = timed(build)
            row = {
                "challenges": n,
                "pages_en_only_s": round(english, 2),
                "pages_s": round(pages, 2),
                "second_language_s": round(pages - english, 2),
                "with_book_cold_s": round(cold, 2),
                "with_book_warm_s": round(warm, 2),
                "html_pages": result.pages,
                "ratio_pages_to_baseline": round(pages / baseline, 2),
                "ratio_warm_to_baseline": round(warm / baseline, 2),
            }
            rows.append(row)
            print(
                f"{n:>2} challenge(s): pages in English {english:6.2f} s, in English and French "
                f"{pages:6.2f} s (the second language {pages - english:+.2f} s, "
                f"{pages / english:4.2f}x); "
                f"both languages {pages / baseline:4.1f}x baseline, "
                f"with books cold {cold:6.2f} s, warm {warm:6.2f} s "
                f"({warm / baseline:4.1f}x baseline), {result.pages} HTML pages",
                flush=True,
            )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        extra = last["challenges"] - first["challenges"]
        for key in ("pages_en_only_s", "pages_s", "with_book_cold_s", "with_book_warm_s"):
            per = (last[key] - first[key]) / extra
            print(f"per added challenge ({key}): {per:.2f} s")
    path = save("site", {"baseline_s": round(baseline, 2), "exams": args.exams, "rows": rows})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
