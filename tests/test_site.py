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
from pathlib import Path

import pytest
import yaml

from portal.core.environ import scoped_environ
from portal.errors import ConfigError
from portal.reproduce.reproduction import Reproduction
from portal.site import linkcheck
from portal.site.build import build_site
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
    shutil.copytree(ROOT / "data_cards", root / "data_cards", dirs_exist_ok=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # DaT-Park only: this project holds its release and teams, not the other challenges'
    params = {"challenges": {"datpark": params["challenges"]["datpark"]}, "site": params["site"]}
    params["challenges"]["realfix"] = {"title": "A challenge of real data (fixture)"}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    write_real_card(root)
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


def write_real_card(root: Path) -> None:
    """A second challenge whose card says its data is real (no release, no team yet): its
    pages must carry no synthetic notice."""
    card = (ROOT / "data_cards" / "datpark.md").read_text()
    card = card.replace("id: datpark", "id: realfix", 1).replace(
        "provenance: synthetic", "provenance: real", 1
    )
    card = re.sub(r"provenance_note: >-\n(  .*\n)+", "", card, count=1)
    (root / "data_cards" / "realfix.md").write_text(card)


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
def built(project):
    result = build_site(project, project / "site", config_file=ROOT / "mkdocs.yml")
    assert result.books == ["datpark", "realfix"]
    return result


@pytest.fixture(scope="module")
def site(built):
    return built.site


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
    tab.errors = []  # console errors and uncaught exceptions, with the page they came from
    tab.on(
        "console",
        lambda m: tab.errors.append(f"{tab.url}: {m.text}") if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: tab.errors.append(f"{tab.url}: {e}"))
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


def _rgb(css: str) -> tuple[float, ...]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    return tuple(values[:3]) + ((values[3],) if len(values) > 3 else (1.0,))


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    def luminance(c):
        lin = [
            v / 255 / 12.92 if v / 255 <= 0.04045 else ((v / 255 + 0.055) / 1.055) ** 2.4
            for v in c[:3]
        ]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@needs_chromium
@pytest.mark.parametrize("prefix", ["", "fr/"])
@pytest.mark.parametrize("path", ["datpark/leaderboard.html", "datpark/teams/exact.html"])
def test_every_verdict_badge_is_visible_and_distinct(page, server, path, prefix):
    """The badges as the site draws them, for all four verdicts and "not yet run", on the
    leaderboard and a team report, in both languages: each has an opaque background of its
    own, unlike the page's, and text at 4.5:1 contrast or more on it."""
    from portal.reproduce.verdict import NOT_RUN, Verdict
    from portal.site.i18n import Language

    words = Language(prefix.rstrip("/") or "en").t
    page.goto(server + prefix + path)
    styles = page.eval_on_selector_all(
        "article .verdict",
        """els => els.map(e => [e.innerText, e.className, getComputedStyle(e).backgroundColor,
                               getComputedStyle(e).color, e.offsetWidth, e.offsetHeight])""",
    )
    page_background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    if _rgb(page_background)[3] == 0:  # transparent body: the canvas is white
        page_background = "rgb(255, 255, 255)"
    expected = {words(v.value) for v in Verdict} | {words(NOT_RUN)}
    assert {text for text, *_ in styles} == expected
    colours: dict[str, set] = {}
    for text, classes, background, colour, width, height in styles:
        assert width > 0 and height > 0, text
        assert page.locator("article .verdict", has_text=text).first.is_visible(), text
        bg, fg = _rgb(background), _rgb(colour)
        assert bg[3] == 1.0, f"{text}: transparent badge ({background})"
        assert _contrast(bg, _rgb(page_background)) > 1.2 or "not-yet-run" in classes, text
        assert _contrast(bg, fg) >= 4.5, f"{text}: {colour} on {background}"
        colours.setdefault(text, set()).add(background)
    assert all(len(v) == 1 for v in colours.values()), colours  # one colour per verdict
    assert len({next(iter(v)) for v in colours.values()}) == 5, colours


@needs_chromium
@pytest.mark.parametrize("prefix", ["", "fr/"])
def test_the_leaderboard_fits_a_1366_pixel_screen_with_names_linked(page, server, prefix):
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(server + prefix + "datpark/leaderboard.html")
    table = page.locator("article table").first
    box = table.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, box
    wrap = table.evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert wrap[0] <= wrap[1], f"the table scrolls sideways: {wrap}"
    links = table.locator("tbody td:nth-child(2) a")
    assert links.count() == 4
    links.first.click()
    page.wait_for_url(re.compile(r"datpark/teams/\w+\.html$"))


@needs_chromium
@pytest.mark.parametrize(
    "prefix, title, sentence",
    [
        ("", "Synthetic data", "generated by a program"),
        ("fr/", "Données synthétiques", "produits par un programme"),
    ],
)
def test_the_synthetic_notice_is_on_every_page_of_a_synthetic_challenge_only(
    page, server, site, prefix, title, sentence
):
    folder = site / prefix
    for path in sorted(
        p.relative_to(site).as_posix() for p in (folder / "datpark").rglob("*.html")
    ):
        page.goto(server + path)
        notice = page.locator("article .admonition.warning", has_text=title)
        assert notice.count() == 1 and notice.is_visible(), path
        assert sentence in notice.inner_text()
    for path in sorted(
        p.relative_to(site).as_posix() for p in (folder / "realfix").rglob("*.html")
    ):
        page.goto(server + path)
        assert "ynthetic" not in page.inner_text("article"), path
        assert "ynthétique" not in page.inner_text("article"), path
    page.goto(server + prefix + "index.html")
    rows = {
        r.locator("td").first.inner_text(): r.locator("td").nth(1).inner_text()
        for r in page.locator("article table tbody tr").all()
    }
    kinds = {"": ("synthetic", "real"), "fr/": ("synthétiques", "réelles")}[prefix]
    titles = [title for title in rows if "DaT-Park" in title]
    assert len(titles) == 1 and rows.pop(titles[0]) == kinds[0]
    assert rows == {"A challenge of real data (fixture)": kinds[1]}
    assert page.locator("article .admonition.warning", has_text=sentence).count() == 1


@needs_chromium
def test_public_pages_and_documentation_are_two_tabs_and_the_footer_names_the_publisher(
    page, server
):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["site"]
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(server + "datpark/leaderboard.html")
    tabs = page.locator(".md-tabs__link").all_inner_texts()
    assert [t.strip() for t in tabs] == ["Challenges", "Documentation"]
    nav = page.locator(".md-nav--primary").inner_text()
    assert nav.index("Leaderboard") < nav.index("Team: fixture-exact")
    footer = page.locator(".md-footer").inner_text()
    for key in ("publisher", "licence"):
        assert params[key] in footer, key
    contact = page.locator(".portal-footer a", has_text=params["contact"].removeprefix("mailto:"))
    assert contact.get_attribute("href") == params["contact"]
    page.locator(".md-tabs__link", has_text="Documentation").click()
    page.wait_for_load_state()
    assert "Documentation" in page.locator(".md-tabs__item--active").inner_text()


@needs_chromium
def test_the_download_page_checksums_match_the_release_manifest(page, server, project):
    manifest = json.loads((project / "data/datpark/releases/1.0.0/manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    page.goto(server + "datpark/download.html")
    shown = {}
    for row in page.locator("article table").first.locator("tbody tr").all():
        cells = row.locator("td").all_inner_texts()
        shown[cells[0].strip()] = (int(cells[1].replace(",", "")), cells[2].strip())
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
    assert page.errors == []  # no console error on any page, the book's included


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
    assert f"{server}files/datpark/1.0.0/SHA256SUMS" in script  # the page's own address
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
    assert f"<td>{len(splits)} exams</td>" in home


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


def test_figures_with_words_are_drawn_in_each_language_the_others_once(site):
    """The data card's figures and the report's ROC curve and confusion matrix carry words:
    the French pages have their own drawing; the example slices carry none and are shared."""
    for name in ("class-balance.png", "centres.png", "age-sex.png", "examples.png"):
        english = (site / "datpark/figures/1.0.0" / name).read_bytes()
        french = (site / "fr/datpark/figures/1.0.0" / name).read_bytes()
        assert english[:4] == french[:4] == b"\x89PNG", name
        assert (english == french) == (name == "examples.png"), name
    for name in ("roc.png", "confusion.png"):
        english = (site / "datpark/teams/exact" / name).read_bytes()
        french = (site / "fr/datpark/teams/exact" / name).read_bytes()
        assert french[:4] == b"\x89PNG" and english != french, name
    report = (site / "fr/datpark/teams/exact.html").read_text()
    assert "dans la langue de cette page" in report


def test_a_build_reads_mlflow_and_the_releases_once_for_both_languages(
    project, tmp_path, monkeypatch
):
    from portal.site import figures, sources

    calls = {"runs": 0, "releases": 0, "slices": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(sources, "read_runs", counted("runs", sources.read_runs))
    monkeypatch.setattr(sources, "read_release", counted("releases", sources.read_release))
    monkeypatch.setattr(figures, "example_slices", counted("slices", figures.example_slices))
    result = build_site(project, tmp_path / "site", config_file=ROOT / "mkdocs.yml", book=False)
    assert (tmp_path / "site" / "fr" / "datpark" / "data-card.html").exists()
    assert set(result.missing) == {"en", "fr"}
    # two challenges, one release: one read each, whatever the number of languages
    assert calls == {"runs": 2, "releases": 1, "slices": 1}


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


# -- accessibility and screenshots ----------------------------------------------------------

AXE = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
#: One page of every kind (the reproduction book's pages included).
PAGE_KINDS = {
    "home": "index.html",
    "overview": "datpark/index.html",
    "data-card": "datpark/data-card.html",
    "versions": "datpark/versions.html",
    "download": "datpark/download.html",
    "leaderboard": "datpark/leaderboard.html",
    "team-report": "datpark/teams/exact.html",
    "cite": "datpark/citation.html",
    "documentation": "site.html",
}
SHOTS = ROOT / "site-shots"


@pytest.fixture
def axe_page(browser, server):
    """A page that may inject axe-core: the site's Content-Security-Policy refuses any
    script not its own, so this context alone bypasses it (the checks are read-only)."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make setup` (npm ci in tests/a11y/)")
    context = browser.new_context(bypass_csp=True)
    tab = context.new_page()
    yield tab
    context.close()


@needs_chromium
@pytest.mark.parametrize("prefix", ["", "fr/"])
@pytest.mark.parametrize("kind", sorted(PAGE_KINDS))
def test_axe_finds_no_accessibility_violation(axe_page, server, kind, prefix):
    """axe-core's WCAG 2.x A and AA rules and its best practices (contrast, names, font
    sizes, landmarks, tables), on every kind of page, at a desktop and a phone width."""
    for width in (1366, 390):
        axe_page.set_viewport_size({"width": width, "height": 900})
        axe_page.goto(server + prefix + PAGE_KINDS[kind])
        axe_page.wait_for_load_state("networkidle")
        axe_page.add_script_tag(path=str(AXE))
        result = axe_page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
        )
        assert result == [], f"{prefix}{kind} at {width} px: {json.dumps(result, indent=1)}"


@needs_chromium
@pytest.mark.parametrize("page_name", ["intro", "data", "reproduction"])
def test_axe_finds_no_accessibility_violation_in_the_book(axe_page, server, page_name):
    """The reproduction book (English only, linked from both languages) passes the same
    axe-core rules as the site's pages."""
    path = f"book/datpark/{page_name}.html"
    for width in (1366, 390):
        axe_page.set_viewport_size({"width": width, "height": 900})
        axe_page.goto(server + path)
        axe_page.wait_for_load_state("networkidle")
        axe_page.add_script_tag(path=str(AXE))
        result = axe_page.evaluate(
            "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
            " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})); }"
        )
        assert result == [], f"{path} at {width} px: {json.dumps(result, indent=1)}"


@needs_chromium
def test_screenshots_of_every_page_kind(browser, server):
    """Full-page screenshots at 1366 and 390 px, for a reviewer: site-shots/ (git-ignored)."""
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context()
    tab = context.new_page()
    shots = [(f"en-{kind}", path) for kind, path in PAGE_KINDS.items()]
    shots += [(f"fr-{kind}", "fr/" + path) for kind, path in PAGE_KINDS.items()]
    shots.append(("book", "book/datpark/reproduction.html"))
    for name, path in shots:
        for width in (1366, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.goto(server + path)
            tab.wait_for_load_state("networkidle")
            out = SHOTS / f"{name}-{width}.png"
            tab.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000, out
    context.close()


# -- two languages --------------------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("kind", sorted(PAGE_KINDS))
def test_the_language_switch_keeps_the_reader_on_the_same_page(page, server, kind):
    path = PAGE_KINDS[kind]
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(server + path)
    assert page.locator("html").get_attribute("lang") == "en"
    page.locator(".md-header .md-select").first.hover()  # the switch opens on hover
    page.locator(".md-select__link[hreflang=fr]").first.click()
    page.wait_for_url(server + "fr/" + path)
    assert page.locator("html").get_attribute("lang") == "fr"
    page.locator(".md-header .md-select").first.hover()
    page.locator(".md-select__link[hreflang=en]").first.click()
    page.wait_for_url(server + path)
    assert page.errors == []


@needs_chromium
def test_search_works_in_french(page, server):
    page.goto(server + "fr/index.html")
    page.wait_for_load_state("networkidle")
    page.locator("input.md-search__input").click()
    page.keyboard.type("reproduction")
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    links = [a.get_attribute("href") for a in page.locator(".md-search-result__link").all()]
    assert links and all("/fr/" in (link or "") or not link.startswith("http") for link in links)
    assert page.locator(".md-search-result__meta").inner_text()  # "n documents" in French
    assert page.errors == []


def test_missing_translations_are_reported_and_shown(built, site):
    missing = built.missing
    assert missing["en"] == []
    assert "data card realfix.fr.md: section Motivation" in missing["fr"]
    assert "documentation: docs/fr/site.md" in missing["fr"]
    assert not [m for m in missing["fr"] if m.startswith(("page text", "data card datpark"))]
    card = (site / "fr" / "realfix" / "data-card.html").read_text()
    assert "Section non traduite" in card and "Traduction incomplète" not in card
    doc = (site / "fr" / "site.html").read_text()
    assert "existe qu" in doc  # "Cette page n'existe qu'en anglais"
    french = (site / "fr" / "datpark" / "data-card.html").read_text()
    assert "Prétraitement et annotation" in french and "Section non traduite" not in french
