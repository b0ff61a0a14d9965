"""The public site end to end: a real release, real reproductions logged to a real MLflow
store, a real ``mkdocs build --strict`` and Jupyter Book build, served on 127.0.0.1 and
driven in Debian's headless Chromium (Playwright, pointed at /usr/bin/chromium)."""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from portal.core.environ import scoped_environ
from portal.errors import ConfigError
from portal.reproduce.reproduction import Reproduction
from portal.site import linkcheck
from portal.site.build import build_site, make_server
from tests.conftest import challenge_project
from tests.fixture_teams import set_official, write_team

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.skipif(
        not Path("/usr/bin/python3").exists(), reason="team environments need Debian's python3"
    ),
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is installed by `make setup`"
)

EVIL_CARD = """# Model card: fixture-evil

<script>window.__pwned = "script";</script>

<img src="x" onerror="window.__pwned = 'onerror'">

![tracker](https://tracker.example.org/pixel.png) and [a link](javascript:window.__pwned=1)

## What it does
Thresholds the putamen SBR. **Bold** claims, `code`, and a [safe link](https://example.org/).
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with one release and four teams: one exact, one drifted (whose model card
    tries to inject a script), one that crashes, and one that was never run."""

    root = challenge_project(tmp_path_factory.mktemp("site-project"), exams=60, seed=5)
    shutil.copytree(ROOT / "data_cards", root / "data_cards")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params = {"challenges": params["challenges"], "site": params.get("site", {})}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    teams = (("exact", "exact"), ("evil", "drifted"), ("idle", "exact"), ("crash", "crash"))
    for team, behaviour in teams:
        write_team(root, team, behaviour)
    (root / "reproduce" / "datpark" / "evil" / "MODEL_CARD.md").write_text(EVIL_CARD)
    # this module's own store, whatever an earlier test left in the environment
    own = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PORTAL_ENV_CACHE": str(root / ".portal-envs"),
    }
    with scoped_environ(own):
        set_official(root, {"exact": (0.0, 0.0)})
        first = Reproduction(root, "datpark").run("exact", repeat=False)
        official = json.loads((first.out / "record.json").read_text())["verdict"]["reproduced"]
        set_official(root, {t: (official, official) for t, _ in teams})
        for team in ("exact", "evil", "crash"):
            Reproduction(root, "datpark").run(team, repeat=team == "exact")
        publish_mirrors(root)
        yield root


def publish_mirrors(root: Path) -> None:
    """A folder mirror and a (mocked) Hub repository, verified; and a stale entry for
    other content, which the site must not show."""
    from portal.publish.publication import publish
    from tests.test_publish import FakeHub

    release = root / "data" / "datpark" / "releases" / "1.0.0"
    log = root / "data" / "datpark" / "publications.json"
    for target in (f"dir://{root / 'mirror'}", "hf://portal-org/datpark"):
        publish(release, target, api=FakeHub())  # records itself in publications.json
    stale = json.loads(log.read_text())[0] | {"target": "s3://old/x", "content_hash": "sha256:0"}
    log.write_text(json.dumps([*json.loads(log.read_text()), stale]))


@pytest.fixture(scope="module")
def site(project):
    result = build_site(project, project / "site", config_file=ROOT / "mkdocs.yml")
    assert result.books == ["datpark"]
    return result.site


@pytest.fixture(scope="module")
def server(project, site):
    httpd = make_server(project, site, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is installed by `make setup`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--disable-domain-reliability",
                "--disable-client-side-phishing-detection",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that records every request it makes outside the site."""
    context = browser.new_context()
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(server):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    tab = context.new_page()
    tab.outside = outside
    yield tab
    context.close()


def mlflow_runs(project: Path) -> dict[str, object]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("datpark")
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"])
    latest = {}
    for run in runs:
        latest.setdefault(run.data.tags["team"], run)
    return latest


# -- in the browser -------------------------------------------------------------------


@needs_chromium
def test_the_home_page_lists_the_challenge(page, server):
    page.goto(server + "index.html")
    link = page.locator("article table a", has_text="DaT-Park")
    assert link.count() == 1 and link.is_visible()
    link.click()
    page.wait_for_url(re.compile(r"datpark/index\.html$"))
    assert "The clinical question" in page.content()


@needs_chromium
def test_search_finds_the_challenge(page, server):
    page.goto(server + "index.html")
    page.wait_for_load_state("networkidle")  # the search index is loaded by a worker
    page.locator("input.md-search__input").click()
    page.keyboard.type("DaT-Park")  # the search listens to key strokes, not to fill()
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    text = " ".join(results.all_inner_texts())
    assert "DaT-Park" in text


@needs_chromium
def test_the_leaderboard_shows_a_verdict_for_every_team(page, server, project):
    page.goto(server + "datpark/leaderboard.html")
    rows = page.locator("article table tbody tr")
    assert rows.count() == 4
    verdicts = {}
    for i in range(4):
        row = rows.nth(i)
        name = row.locator("td").nth(1).locator("strong").inner_text()
        verdicts[name] = row.locator(".verdict").inner_text()
    assert verdicts == {
        "fixture-exact": "reproduced",
        "fixture-evil": "not reproduced",
        "fixture-idle": "not yet run",
        "fixture-crash": "failed",
    }


@needs_chromium
def test_every_verdict_badge_is_visible_and_distinct(page, server):
    """The badges the site's stylesheet draws, for every verdict and for "not yet run"; the
    class comes from the verdict by a slug, so "within noise" is styled too."""
    from portal.reproduce.verdict import Verdict
    from portal.site.pages import badge

    page.goto(server + "datpark/leaderboard.html")
    states = [v.value for v in Verdict] + [None]
    page.evaluate(
        "html => document.querySelector('article').insertAdjacentHTML('beforeend', html)",
        '<p id="all-badges">' + "".join(badge(v) for v in states) + "</p>",
    )
    styles = page.eval_on_selector_all(
        "#all-badges .verdict, article table .verdict",
        """els => els.map(e => [e.innerText, getComputedStyle(e).backgroundColor,
                               getComputedStyle(e).color])""",
    )
    colours = {text: (background, colour) for text, background, colour in styles}
    assert set(colours) == {"reproduced", "within noise", "not reproduced", "failed", "not yet run"}
    for text, (background, colour) in colours.items():
        assert background not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), text
        assert background != colour, text
    assert len({background for background, _ in colours.values()}) == 5, colours
    # the leaderboard's own badges are drawn the same way as the reference ones
    assert len({tuple(s[1:]) for s in styles if s[0] == "reproduced"}) == 1


@needs_chromium
def test_the_download_page_checksums_match_the_release_manifest(page, server, project):
    manifest = json.loads((project / "data/datpark/releases/1.0.0/manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    page.goto(server + "datpark/download.html")
    shown = {}
    for row in page.locator("article table").first.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        shown[cells[0].strip()] = (int(cells[1]), cells[2].strip())
    assert shown, "no file table on the download page"
    for path, (size, sha) in shown.items():
        assert listed[path]["sha256"] == sha, path
        assert listed[path]["size"] == size, path
    non_dicom = {p for p in listed if not p.startswith("dicom/")}
    assert set(shown) == non_dicom
    assert f"{manifest['file_count']} files" in page.inner_text("article")


@needs_chromium
def test_dataset_pages_carry_schema_org_dataset_json_ld(page, server, project):
    manifest = json.loads((project / "data/datpark/releases/1.0.0/manifest.json").read_text())
    for path in ("datpark/index.html", "datpark/download.html", "datpark/citation.html"):
        page.goto(server + path)
        scripts = page.locator('script[type="application/ld+json"]')
        assert scripts.count() == 1, path
        data = json.loads(scripts.first.text_content())
        assert data["@context"].rstrip("/") in ("https://schema.org", "http://schema.org")
        assert data["@type"] == "Dataset"
        assert data["version"] == "1.0.0"
        assert manifest["content_hash"] in data["identifier"]
        assert data["license"].startswith("https://creativecommons.org/")
        assert all(d["@type"] == "DataDownload" for d in data["distribution"])


@needs_chromium
def test_no_page_requests_anything_outside_the_site(page, server, site):
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    pages = [p for p in pages if "/_static/" not in p]
    assert len(pages) > 15
    for path in pages:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
    assert page.outside == []


@needs_chromium
def test_a_model_card_with_a_script_does_not_run_it(page, server):
    page.goto(server + "datpark/teams/evil.html")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__pwned") is None
    text = page.inner_text(".portal-untrusted")
    assert '<script>window.__pwned = "script";</script>' in text
    assert "onerror=" in text
    assert page.locator(".portal-untrusted script, .portal-untrusted img").count() == 0
    assert page.locator('.portal-untrusted a[href^="javascript:"]').count() == 0
    assert page.outside == []  # the tracker image was not loaded


@needs_chromium
def test_the_download_command_on_the_page_fetches_the_exact_bytes(page, server, tmp_path):
    page.goto(server + "datpark/download.html")
    script = page.locator(".tabbed-block").first.locator("code").inner_text()
    assert "sha256sum -c SHA256SUMS" in script
    script = script.replace("http://127.0.0.1:8000/", server)  # the test server's port
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"  # `portal verify` too
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": path},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(": OK") >= 50
    assert "verify ok, the published release" in done.stdout


# -- the built files --------------------------------------------------------------------


def test_no_internal_link_is_broken(site):
    assert linkcheck.check(site) == []


def test_the_link_check_finds_a_broken_link(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="a/b.html#top">x</a><a href="https://example.org/">out</a><img src="c.png">'
    )
    (tmp_path / "a" / "b.html").write_text('<h1 id="other">b</h1><a href="../index.html">up</a>')
    broken = {(b.page, b.link, b.reason) for b in linkcheck.check(tmp_path)}
    assert broken == {
        ("index.html", "a/b.html#top", "no such anchor"),
        ("index.html", "c.png", "no such file"),
    }


def test_leaderboard_numbers_are_the_mlflow_metrics(site, project):
    text = (site / "datpark" / "leaderboard.html").read_text()
    runs = mlflow_runs(project)
    shown = re.findall(r'class="reproduced-score">([0-9.]+)<', text)
    expected = [f"{runs[t].data.metrics['balanced_accuracy']:.4f}" for t in ("exact", "evil")]
    assert sorted(shown) == sorted(expected)
    for team in ("exact", "evil"):
        assert runs[team].info.run_id in text  # the link to the run


def test_a_report_is_traceable_to_its_run(site, project):
    run = mlflow_runs(project)["exact"]
    exported = json.loads((site / "datpark/teams/exact/mlflow-run.json").read_text())
    assert exported["run_id"] == run.info.run_id
    assert exported["metrics"] == run.data.metrics
    report = (site / "datpark/teams/exact.html").read_text()
    assert f"{run.data.metrics['roc_auc']:.4f}" in report
    assert f"{run.data.metrics['wall_seconds']:.1f} s" in report
    assert (site / "datpark/teams/exact/roc.png").read_bytes()[:4] == b"\x89PNG"


def test_data_card_counts_are_the_release_tables(site, project):
    release = project / "data/datpark/releases/1.0.0/metadata"
    with open(release / "splits.csv") as handle:
        splits = [r["split"] for r in csv.DictReader(handle)]
    text = (site / "datpark" / "data-card.html").read_text()
    for split in set(splits):
        assert re.search(rf"<code>{split}</code></td>\s*<td>{splits.count(split)}</td>", text)
    home = (site / "index.html").read_text()
    assert f"<td>{len(splits)}</td>" in home


def test_the_reproduction_book_was_executed_on_the_runs(site, project):
    book = (site / "book" / "datpark" / "reproduction.html").read_text()
    runs = mlflow_runs(project)
    assert runs["exact"].info.run_id in book
    assert "team(s) with a finished run on release 1.0.0" in book
    assert "data:image/png;base64" in book or (site / "book/datpark/_images").is_dir()
    overview = (site / "datpark" / "index.html").read_text()
    assert 'href="../book/datpark/index.html"' in overview


def test_nothing_generated_is_left_in_docs(site):
    generated = [p for p in (ROOT / "docs").rglob("*") if "generator: portal.site" in _text(p)]
    assert generated == []
    assert not (ROOT / "docs" / "SUMMARY.md").exists()


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def test_a_failed_build_leaves_the_previous_site(project, site, tmp_path):
    before = (site / "index.html").read_bytes()
    card = project / "data_cards" / "datpark.md"
    saved = card.read_text()
    card.write_text(saved.replace("license: CC-BY-4.0", "license: CC BY 4.0 (with spaces)"))
    try:
        with pytest.raises(ConfigError) as error:
            build_site(project, site, config_file=ROOT / "mkdocs.yml", book=False)
        assert "license" in str(error.value)
    finally:
        card.write_text(saved)
    assert (site / "index.html").read_bytes() == before
    assert not list(site.parent.glob(".site.building-*"))


def test_the_versions_page_shows_what_changed_from_the_parent(project, tmp_path):
    from portal.site.pages import SiteWriter, directory_writer
    from portal.site.sources import read_sources

    sources = read_sources(project, with_runs=False)
    challenge = sources.challenges[0]
    first = challenge.releases[0]
    second = copy.copy(first)
    second.version, second.date = "2.0.0", "2026-01-15"
    second.changes = {
        "parent": "1.0.0",
        "exams_added": [],
        "exams_removed": ["DPK-E00003"],
        "labels_changed": [
            {"exam_id": "DPK-E00007", "field": "label", "from": "normal", "to": "pathological"}
        ],
        "metadata_changed": [],
        "files_changed": ["metadata/labels.csv"],
        "required_bump": "major",
    }
    challenge.releases = [first, second]
    SiteWriter(sources, directory_writer(tmp_path), book=False).versions(challenge)
    text = (tmp_path / "datpark" / "versions.md").read_text()
    text = re.sub(r"\\(.)", r"\1", text)  # Markdown escapes of outside text (untrusted.inline)
    assert text.index("## 2.0.0") < text.index("## 1.0.0")  # newest first
    assert "| labels changed | 1 |" in text and "| exams removed | 1 |" in text
    assert "DPK-E00007 field: label from: normal to: pathological" in text
    assert "Bump required by these changes: **major**" in text


def test_a_failed_run_shows_where_it_failed(site):
    report = (site / "datpark" / "teams" / "crash.html").read_text()
    assert "verdict-failed" in report
    assert "Where it failed" in report
    assert "weights file corrupted (simulated crash)" in report


def test_the_download_page_lists_the_verified_mirrors_of_this_content(site):
    text = (site / "datpark" / "download.html").read_text()
    assert "Verified mirrors of 1.0.0" in text
    assert "dir://" in text and "hf://datasets/portal-org/datpark@1.0.0" in text
    assert "s3://old/x" not in text, "a mirror of other content is not shown"
    import html

    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    assert "hf download portal-org/datpark --repo-type dataset --revision 1.0.0" in plain
    assert "portal verify datpark-1.0.0 --expect sha256:" in plain
