"""The site and the book of a tabular challenge (ML-KIDCAR), chosen through the data card's
``data_kind``: a real synthetic export, ingested and released by the tabular modality,
three team runs logged to a real MLflow store, a real ``mkdocs build --strict`` in English
and French and a real Jupyter Book, served on 127.0.0.1 and read in Debian's Chromium.

The runs' scores are computed by the portal's own metrics from the release's labels and
a simple score of each team (a fixture: the reproduction of tabular teams is another
branch's work); their calibration bins and the TCN team's attributions over time are
made from the same release's data.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from portal.core.environ import scoped_environ
from portal.site.build import build_site
from tests.test_site import AXE, CHROMIUM, SHOTS

ROOT = Path(__file__).resolve().parent.parent
CHALLENGE = "mlkidcar"
VERSION = "1.0.0"
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`"
)
#: One page of every kind a tabular challenge has.
PAGE_KINDS = {
    "overview": f"{CHALLENGE}/index.html",
    "data-card": f"{CHALLENGE}/data-card.html",
    "versions": f"{CHALLENGE}/versions.html",
    "download": f"{CHALLENGE}/download.html",
    "leaderboard": f"{CHALLENGE}/leaderboard.html",
    "team-report": f"{CHALLENGE}/teams/tcn-attributions.html",
    "team-report-gbm": f"{CHALLENGE}/teams/signals-gbm.html",
    "cite": f"{CHALLENGE}/citation.html",
}
#: A DICOM figure's file name on a page (DaT-Park's data card and reports).
DICOM_FIGURES = ("examples.png", "age-sex.png", "centres.png", "saliency-")


def release_folder(root: Path) -> Path:
    """A small ML-KIDCAR release 1.0.0, made as an organiser makes it: ``portal synth``,
    ``portal ingest`` and ``portal release`` on the project at ``root``."""
    steps = (
        ("-q", "synth", CHALLENGE, "--exams", "240", "--seed", "11", "--out", "raw/" + CHALLENGE),
        ("-q", "ingest", CHALLENGE),
        ("-q", "release", CHALLENGE, "--version", VERSION),
    )
    for args in steps:
        done = subprocess.run(
            [sys.executable, "-m", "portal.cli", "--project", str(root), *args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, f"portal {' '.join(args)}: {done.stderr[-2000:]}"
    return root / "data" / CHALLENGE / "releases" / VERSION


def _calibration(truth: np.ndarray, scores: np.ndarray, bins: int = 5) -> list[dict]:
    order = np.argsort(scores, kind="stable")
    return [
        {
            "mean_predicted": float(scores[part].mean()),
            "observed": float(truth[part].mean()),
            "n": len(part),
        }
        for part in np.array_split(order, bins)
        if len(part)
    ]


def _explanations(release: Path, out: Path) -> list[Path]:
    """Attribution files as the TCN team's explain.py writes them (channels x minutes)."""
    from portal.tabular import figures

    out.mkdir(parents=True)
    table = pq.read_table(release / "data" / "signals" / "private_test.parquet").to_pandas()
    weights = np.array([-0.02, 0.01, 0.0, -0.05, 2.0, 0.1])[:, None]
    written = []
    for surgery, rows in list(table.groupby(table.columns[0]))[:3]:
        x = np.zeros((len(figures.CHANNEL_NAMES), 480), np.float32)
        inside = rows[(rows["minute"] >= 0) & (rows["minute"] < 480)]
        for c, name in enumerate(figures.CHANNEL_NAMES):
            x[c, inside["minute"].to_numpy()] = np.nan_to_num(inside[name].to_numpy())
        path = out / f"{surgery}.npz"
        np.savez_compressed(path, signals=x, attribution=(x * weights).astype(np.float32))
        written.append(path)
    return written


def log_runs(root: Path, release: Path) -> dict[str, dict]:
    """One finished MLflow run per team of the leaderboard, scored by the portal's metrics
    on the release's private_test labels; returns each team's record."""
    from portal.reproduce import plots, tracking
    from portal.reproduce.metrics import score

    labels = pq.read_table(release / "data" / "labels" / "private_test.parquet").to_pandas()
    table = pq.read_table(release / "data" / "surgeries" / "private_test.parquet").to_pandas()
    table = table.merge(labels, on=table.columns[0])
    truth = table["aki"].astype(int).to_numpy()
    numeric = [c for c in table.columns if table[c].dtype.kind in "fi" and c != "aki_stage"]
    with open(ROOT / "reproduce" / CHALLENGE / "leaderboard.csv") as handle:
        official = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    verdicts = {"1": "reproduced", "2": "within noise", "3": "not reproduced"}
    # the subgroups of the challenge's rules, named as the rules name them
    rules = yaml.safe_load((ROOT / "reproduce" / CHALLENGE / "challenge.yaml").read_text())
    subgroups = [(s["name"], s["column"]) for s in rules["subgroups"]]
    records = {}
    for i, entry in enumerate(official):
        column = numeric[(3 * i) % len(numeric)]
        raw = table[column].astype(float).fillna(table[column].astype(float).median()).to_numpy()
        scores = 1 / (1 + np.exp(-(raw - raw.mean()) / (raw.std() or 1.0)))
        groups = {name: table[column].astype(str).tolist() for name, column in subgroups}
        result = score(
            truth,
            (scores >= 0.5).astype(int),
            scores,
            classes=["no_aki", "aki"],
            official_metric="roc_auc",
            groups=groups,
            resamples=200,
        )
        scored = result.to_dict()
        brier = float(np.mean((scores - truth) ** 2))
        scored["metrics"] |= {
            "average_precision": float(np.mean(truth[np.argsort(-scores)][: truth.sum()])),
            "brier_score": brier,
        }
        scored["calibration"] = _calibration(truth, scores)
        reproduced = scored["metrics"]["roc_auc"]
        record = {
            "challenge": CHALLENGE,
            "team": entry["team"],
            "verdict": {
                "reproduced": reproduced,
                "difference": reproduced - float(entry["private_score"]),
                "tolerance": 0.01,
                "reason": f"fixture run of {entry['team']}",
                "ci": [scored["official"]["low"], scored["official"]["high"]],
            },
            "scores": scored,
            "cost": {"wall_seconds": 1.0, "peak_memory_mb": 10.0},
        }
        artifacts = root / "artifacts" / entry["team"]
        (artifacts / "figures").mkdir(parents=True)
        (artifacts / "record.json").write_text(json.dumps(record))
        title = f"{entry['name']}, private_test"
        plots.roc(scored["roc"], reproduced, title, artifacts / "figures" / "roc.png")
        plots.confusion(scored["confusion"], title, artifacts / "figures" / "confusion.png")
        if entry["team"] == "tcn-attributions":
            _explanations(release, artifacts / "run" / "explanations")
        tracking.log_run(
            root,
            experiment_name=CHALLENGE,
            run_name=f"{entry['team']}-{VERSION}",
            params={},
            tags={
                "team": entry["team"],
                "team_name": entry["name"],
                "challenge": CHALLENGE,
                "release_version": VERSION,
                "release.content_hash": json.loads((release / "manifest.json").read_text())[
                    "content_hash"
                ],
                "verdict": verdicts[entry["rank"]],
            },
            metrics={
                **scored["metrics"],
                "reproduced_roc_auc": reproduced,
                "wall_seconds": 1.0,
            },
            dataset={"uri": str(release), "name": f"{CHALLENGE}-{VERSION}", "digest": "0" * 12},
            artifacts=artifacts,
        )
        records[entry["team"]] = record
    return records


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("site-tabular")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["challenges"] = {CHALLENGE: params["challenges"][CHALLENGE]}
    params["reproductions"] = {}
    params["releases"] = {
        f"{CHALLENGE}-{VERSION}": {
            "challenge": CHALLENGE,
            "version": VERSION,
            "date": "2026-06-01",
            "notes": "First release of the site test's export.",
        }
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "data_cards").mkdir()
    for card in (ROOT / "data_cards").glob(f"{CHALLENGE}*.md"):
        shutil.copy(card, root / "data_cards")
    shutil.copytree(ROOT / "reproduce" / CHALLENGE, root / "reproduce" / CHALLENGE)
    release = release_folder(root)
    own = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PORTAL_ENV_CACHE": str(root / ".portal-envs"),
    }
    with scoped_environ(own):
        records = log_runs(root, release)
        (root / "records.json").write_text(json.dumps(records))
        yield root


@pytest.fixture(scope="module")
def built(project):
    own = {"MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    with scoped_environ(own):
        result = build_site(project, project / "site", config_file=ROOT / "mkdocs.yml")
    assert result.books == [CHALLENGE]
    return result


@pytest.fixture(scope="module")
def site(built):
    return built.site


def _text(path: Path) -> str:
    return path.read_text("utf-8")


def _images(page: str) -> list[str]:
    return re.findall(r'<img[^>]*src="([^"]+)"', page)


# -- the pages, as files -------------------------------------------------------------------


def test_every_page_kind_exists_in_both_languages_with_the_synthetic_notice(site, built):
    assert built.missing == {"en": [], "fr": []} or not any(
        "page text" in m for m in built.missing["fr"]
    ), built.missing["fr"]
    for prefix in ("", "fr/"):
        for kind, path in PAGE_KINDS.items():
            page = _text(site / prefix / path)
            notice = "Données synthétiques" if prefix else "Synthetic data"
            assert notice in page, f"{prefix}{kind}: no synthetic notice"


def test_the_home_page_counts_surgeries_and_names_the_kind_of_data(site, project):
    release = project / "data" / CHALLENGE / "releases" / VERSION
    surgeries = pq.ParquetFile(release / "data" / "splits.parquet").metadata.num_rows
    home = _text(site / "index.html")
    assert f"{surgeries} surgeries" in home and "Tables and minute-level time series" in home
    assert "DICOM modality" not in home
    assert f"{surgeries} interventions" in _text(site / "fr" / "index.html")


def test_no_page_text_is_left_untranslated_in_french(built):
    untranslated = [m for m in built.missing["fr"] if m.startswith("page text")]
    assert untranslated == [], untranslated


def test_no_dicom_figure_and_the_tabular_figures_on_the_data_card(site):
    for prefix in ("", "fr/"):
        page = _text(site / prefix / PAGE_KINDS["data-card"])
        images = _images(page)
        assert not [i for i in images if any(d in i for d in DICOM_FIGURES)], images
        for name in ("class-balance.png", "missingness.png", "example-signals.png"):
            assert any(i.endswith(f"figures/{VERSION}/{name}") for i in images), (prefix, name)
            png = site / prefix / CHALLENGE / "figures" / VERSION / name
            assert png.read_bytes().startswith(b"\x89PNG"), png
        assert "DICOM" not in page.split('class="md-content"')[-1].split("</article>")[0]


def test_the_data_card_counts_are_the_release_labels(site, project):
    labels = project / "data" / CHALLENGE / "releases" / VERSION / "data" / "labels"
    page = _text(site / PAGE_KINDS["data-card"])
    for split in ("train", "public_test", "private_test"):
        aki = pq.read_table(labels / f"{split}.parquet").column("aki").to_pylist()
        positives = sum(1 for v in aki if v is True)
        negatives = sum(1 for v in aki if v is False)
        row = re.search(rf"<td><code>{split}</code></td>(.*?)</tr>", page, re.S)
        assert row, split
        cells = re.findall(r"<td>(.*?)</td>", row.group(1))
        assert cells[:3] == [str(len(aki)), str(negatives), str(positives)], (split, cells)


def test_the_download_page_lists_the_tables_their_columns_and_the_datasets_configs(site, project):
    release = project / "data" / CHALLENGE / "releases" / VERSION
    page = _text(site / PAGE_KINDS["download"])
    for table in ("surgeries", "labels", "labs", "signals"):
        assert f"<code>{table}</code>" in page, table
        for column in pq.read_schema(release / "data" / table / "train.parquet").names:
            assert f"<code>{column}</code>" in page, (table, column)
    assert 'load_dataset(</span><span class="s2">&quot;mlkidcar-1.0.0&quot;' in page or (
        "mlkidcar-1.0.0" in page and "signals" in page
    )
    assert "dicom/" not in page


def test_the_versions_page_shows_k_l_and_what_was_generalised_and_suppressed(site, project):
    report = json.loads(
        (project / "data" / CHALLENGE / "releases" / VERSION / "deid_report.json").read_text()
    )["risk"]
    for prefix in ("", "fr/"):
        page = _text(site / prefix / PAGE_KINDS["versions"])
        plain = re.sub(r"<[^>]+>", "", page)
        assert f"{report['k']} " in plain and f"{report['k_required']}" in plain
        for column, what in report["generalisation"].items():
            assert column in plain and what.split(" (")[0].replace("<", "&lt;") in page, column
        assert str(report["suppressed_surgeries"]) in plain
    assert "Re-identification risk of 1.0.0" in _text(site / PAGE_KINDS["versions"])


def test_the_citation_says_synthetic(site):
    for prefix in ("", "fr/"):
        page = _text(site / prefix / PAGE_KINDS["cite"])
        assert "synthetic" in page.lower() or "synthétique" in page.lower()


def test_team_reports_show_calibration_auprc_brier_subgroups_and_attributions(site, project):
    records = json.loads((project / "records.json").read_text())
    for prefix in ("", "fr/"):
        page = _text(site / prefix / PAGE_KINDS["team-report"])
        images = _images(page)
        assert any(i.endswith("tcn-attributions/calibration.png") for i in images), images
        assert any(i.endswith("tcn-attributions/attributions.png") for i in images), images
        assert not [i for i in images if any(d in i for d in DICOM_FIGURES)], images
        brier = records["tcn-attributions"]["scores"]["metrics"]["brier_score"]
        shown = f"{brier:.4f}".replace(".", "," if prefix else ".")
        assert shown in page, (prefix, shown)
        assert "AUPRC" in page and "Brier" in page
        for group in ("centre", "sex", "procedure"):
            values = records["tcn-attributions"]["scores"]["subgroups"][group]
            for value in values:
                assert f"<td>{value}</td>" in page, (group, value)
        gbm = _text(site / prefix / PAGE_KINDS["team-report-gbm"])
        assert "attributions.png" not in gbm, "only the TCN team explains over time"
    french = _text(site / "fr" / PAGE_KINDS["team-report"])
    assert "Sortie de l'équipe" in french and "Étalonnage" in french


def test_the_french_pages_use_the_cards_french_vocabulary(site):
    vocabulary = yaml.safe_load(
        (ROOT / "data_cards" / f"{CHALLENGE}.fr.md").read_text().split("---")[1]
    )["vocabulary"]
    # the class names on the data card; the subgroups' names on a team report
    page = _text(site / "fr" / PAGE_KINDS["data-card"])
    report = _text(site / "fr" / PAGE_KINDS["team-report"])
    for key, word in vocabulary.items():
        shown = report if " " in key else page
        assert word.replace("'", "&#x27;") in shown or word in shown, word
    english = _text(site / PAGE_KINDS["data-card"])
    assert vocabulary["aki"] not in re.sub(r"<[^>]+>", "", english).split()


def test_the_leaderboard_has_a_verdict_for_every_team(site):
    page = _text(site / PAGE_KINDS["leaderboard"])
    for verdict in ("reproduced", "within-noise", "not-reproduced"):
        assert f"verdict verdict-{verdict}" in page, verdict


def test_the_book_draws_the_tabular_figures_and_no_dicom_one(site):
    data = _text(site / "book" / CHALLENGE / "data.html")
    assert "portal.tabular" in data and "class_balance" in data
    assert len(re.findall(r'<img[^>]*src="[^"]*\.png"', data)) >= 3
    assert "exam_id" not in data and "dicom" not in data.lower()
    reproduction = _text(site / "book" / CHALLENGE / "reproduction.html")
    assert "calibration" in reproduction.lower() and "attribution" in reproduction.lower()


# -- in the browser ------------------------------------------------------------------------


@pytest.fixture
def axe_page(browser, server):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make setup` (npm ci in tests/a11y/)")
    context = browser.new_context(bypass_csp=True)
    tab = context.new_page()
    yield tab
    context.close()


def _axe(tab, url: str) -> list:
    tab.goto(url)
    tab.wait_for_load_state("networkidle")
    tab.add_script_tag(path=str(AXE))
    return tab.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
    )


@needs_chromium
@pytest.mark.parametrize("prefix", ["", "fr/"])
@pytest.mark.parametrize("kind", sorted(PAGE_KINDS))
def test_axe_finds_no_accessibility_violation(axe_page, server, kind, prefix):
    for width in (1366, 390):
        axe_page.set_viewport_size({"width": width, "height": 900})
        result = _axe(axe_page, server + prefix + PAGE_KINDS[kind])
        assert result == [], f"{prefix}{kind} at {width} px: {json.dumps(result, indent=1)}"


@needs_chromium
@pytest.mark.parametrize("page_name", ["intro", "data", "reproduction"])
def test_axe_finds_no_accessibility_violation_in_the_book(axe_page, server, page_name):
    for width in (1366, 390):
        axe_page.set_viewport_size({"width": width, "height": 900})
        result = _axe(axe_page, f"{server}book/{CHALLENGE}/{page_name}.html")
        assert result == [], f"book {page_name} at {width} px: {json.dumps(result, indent=1)}"


@needs_chromium
def test_screenshots_of_the_tabular_page_kinds(browser, server):
    """Full-page screenshots at 1366 and 390 px for a reviewer (site-shots/, git-ignored);
    and no page is wider than the window (nothing cut off on the right)."""
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on(
        "console", lambda m: errors.append(f"{tab.url}: {m.text}") if m.type == "error" else None
    )
    shots = [(f"en-tabular-{kind}", path) for kind, path in PAGE_KINDS.items()]
    shots += [(f"fr-tabular-{kind}", "fr/" + path) for kind, path in PAGE_KINDS.items()]
    shots += [(f"book-tabular-{n}", f"book/{CHALLENGE}/{n}.html") for n in ("data", "reproduction")]
    for name, path in shots:
        for width in (1366, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.goto(server + path)
            tab.wait_for_load_state("networkidle")
            out = SHOTS / f"{name}-{width}.png"
            tab.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000, out
            if not path.startswith("book/"):
                wide = tab.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"{path} is {wide} px wide at {width} px"
    context.close()
    assert errors == [], errors
