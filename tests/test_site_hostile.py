"""Hostile text on the site: script payloads planted in every text source the site shows
(data card front matter and sections, params.yaml titles and release notes, challenge.yaml,
algorithm.yaml, leaderboard.csv, a model card, MLflow tags, the log tail of a failed run),
a real ``mkdocs build --strict`` and Jupyter Book build, and every page visited and every
planted link clicked in Debian's Chromium: nothing runs, and every payload shows as text."""

from __future__ import annotations

import csv
import json
import re
import shutil
from html.parser import HTMLParser

import pytest
import yaml

from portal.core.environ import scoped_environ
from portal.reproduce.reproduction import Reproduction
from portal.site.build import build_site
from tests.conftest import challenge_project
from tests.fixture_teams import set_official, write_team
from tests.test_site import ROOT, needs_chromium, page  # noqa: F401

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=data:,x onerror=alert(2)>",
    "[click](javascript:alert(3))",
    "javascript:alert(4)",
    "</script><script>alert(5)</script>",
)
#: Every planted text starts with its own marker word, so a test can say where it shows.
MARKERS = {
    "card title": "plantedcardtitle",
    "card summary": "plantedsummary",
    "card publisher": "plantedpublisher",
    "card modality": "plantedmodality",
    "card creator": "plantedcreator",
    "card citation title": "plantedcitation",
    "card section": "plantedsection",
    "card motivation": "plantedmotivation",
    "card section name": "plantedheading",
    "params title": "plantedchallenge",
    "release notes": "plantednotes",
    "phase description": "plantedphase",
    "team": "plantedteam",
    "algorithm title": "plantedalgorithm",
    "algorithm license": "plantedlicense",
    "upstream": "plantedupstream",
    "leaderboard name": "plantedleaderboard",
    "model card": "plantedmodelcard",
    "mlflow tag": "plantedtag",
    "mlflow run name": "plantedrunname",
    "log tail": "plantedlogtail",
}


#: Shown in part: the book's tables cut long cells; the "deterministic" tag is shown as
#: "not checked". The citation title is data only, in the JSON-LD (see its own test).
IN_PART = ("leaderboard name", "mlflow tag")
AS_DATA = ("card citation title",)


def planted(source: str) -> str:
    return " ".join((MARKERS[source], *PAYLOADS))


def _flat(text: str) -> str:
    return " ".join(text.split())


def hostile_card(path) -> str:
    """The real DaT-Park card with a payload in its front matter and in every section."""
    text = (ROOT / "data_cards" / "datpark.md").read_text("utf-8")
    end = text.index("\n---", 4)
    meta = yaml.safe_load(text[4:end])
    meta["title"] = planted("card title")
    meta["summary"] = planted("card summary")
    meta["publisher"] = planted("card publisher")
    meta["modality"] = planted("card modality")
    meta["creators"][0]["name"] = planted("card creator")
    meta["citation"]["title"] = planted("card citation title")
    body = text[end + 4 :]
    body = re.sub(r"^(## Motivation)\n", rf"\1\n\n{planted('card motivation')}\n", body, flags=re.M)
    body = re.sub(
        r"^(## (?!Motivation).+)\n", rf"\1\n\n{planted('card section')}\n", body, flags=re.M
    )
    body += f"\n## {planted('card section name')}\n\nAn extra section.\n"
    path.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body, "utf-8")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project where every text the site shows carries the payloads: two teams, one
    that runs to the end (its MLflow tags are then overwritten) and one whose crash
    message is a payload (the log tail)."""
    base = tmp_path_factory.mktemp("hostile-site")
    card = hostile_card(base / "card.md")
    root = challenge_project(
        base / "project", exams=40, seed=7, card=card, notes=planted("release notes")
    )
    (root / "data_cards").mkdir(exist_ok=True)
    shutil.copy(card, root / "data_cards" / "datpark.md")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # DaT-Park only: this project holds its release and teams, not the other challenges'
    params = {"challenges": {"datpark": params["challenges"]["datpark"]}, "site": params["site"]}
    params["challenges"]["datpark"]["title"] = planted("params title")
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rules = root / "reproduce" / "datpark" / "challenge.yaml"
    spec = yaml.safe_load(rules.read_text())
    spec["phases"][0]["description"] = planted("phase description")
    rules.write_text(yaml.safe_dump(spec))

    write_team(root, "exact", "exact")
    write_team(root, "evil", "crash")
    evil = root / "reproduce" / "datpark" / "evil"
    algorithm = yaml.safe_load((evil / "algorithm.yaml").read_text())
    algorithm["team"] = planted("team")
    algorithm["title"] = planted("algorithm title")
    algorithm["license"] = planted("algorithm license")
    algorithm["upstream"]["repository"] = "https://example.org/" + planted("upstream")
    (evil / "algorithm.yaml").write_text(yaml.safe_dump(algorithm, sort_keys=False))
    (evil / "MODEL_CARD.md").write_text(f"# Model card\n\n{planted('model card')}\n")
    code = (evil / "team.py").read_text()
    crash = '"weights file corrupted (simulated crash)"'
    assert crash in code
    (evil / "team.py").write_text(code.replace(crash, repr(planted("log tail"))))

    set_official(root, {"exact": (0.8, 0.8), "evil": (0.9, 0.9)})
    board = root / "reproduce" / "datpark" / "leaderboard.csv"
    with open(board, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[1]["name"] = planted("leaderboard name")
    with open(board, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    own = {
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PORTAL_ENV_CACHE": str(root / ".portal-envs"),
    }
    with scoped_environ(own):
        for team in ("exact", "evil"):
            Reproduction(root, "datpark").run(team, repeat=False)
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=own["MLFLOW_TRACKING_URI"])
        experiment = client.get_experiment_by_name("datpark")
        for run in client.search_runs([experiment.experiment_id]):
            if run.data.tags.get("team") == "exact":
                for tag in ("git.commit", "release.content_hash", "deterministic"):
                    client.set_tag(run.info.run_id, tag, planted("mlflow tag"))
                client.set_tag(run.info.run_id, "mlflow.runName", planted("mlflow run name"))
        yield root


@pytest.fixture(scope="module")
def site(project):
    result = build_site(project, project / "site", config_file=ROOT / "mkdocs.yml")
    assert result.books == ["datpark"]
    return result.site


def _pages(site) -> list[str]:
    skip = ("/_static/", "/_sources/", "/_images/", "/reports/")
    found = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return [p for p in found if not any(s in f"/{p}" for s in skip)]


class _Markup(HTMLParser):
    """What a built page says before any script runs: its policies and inline handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.policies: list[str] = []
        self.handlers: list[str] = []
        self.scripts_before_policy = 0

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == (
            "content-security-policy"
        ):
            self.policies.append(values.get("content") or "")
        if tag == "script" and not self.policies:
            self.scripts_before_policy += 1
        self.handlers += [f"<{tag} {name}>" for name, _ in attrs if name.startswith("on")]


def policies(markup: str) -> list[str]:
    """The page's Content-Security-Policy meta tags; none may come after a script."""
    parsed = _Markup()
    parsed.feed(markup)
    assert parsed.scripts_before_policy == 0, "a script comes before the policy"
    return parsed.policies


def inline_handlers(markup: str) -> list[str]:
    """The ``on…=`` attributes of a page as built (a theme's script may add its own later)."""
    parsed = _Markup()
    parsed.feed(markup)
    return parsed.handlers


def visit(page, url: str) -> None:  # noqa: F811
    """Open ``url``; a navigation a clicked link started late may interrupt the first try."""
    for attempt in range(5):
        try:
            page.goto(url)
            break
        except Exception as error:  # playwright's Error: "interrupted by another navigation"
            if "interrupted" not in str(error) or attempt == 4:
                raise
            # the late navigation is still running (slow on a loaded machine): let it end
            page.wait_for_load_state("load")
            page.wait_for_timeout(250 * (attempt + 1))
    page.wait_for_load_state("load")


@needs_chromium
def test_no_planted_text_runs_anywhere_on_the_site(page, server, site):  # noqa: F811
    dialogs: list[str] = []
    policy_errors: list[str] = []
    script_errors: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
    page.on(
        "console",
        lambda m: (
            policy_errors.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: script_errors.append(f"{page.url}: {e}"))

    pages = _pages(site)
    assert any(p.startswith("book/") for p in pages) and len(pages) > 15
    texts: dict[str, str] = {}
    clicked: dict[tuple[str, str], str] = {}
    for path in pages:
        visit(page, server + path)
        markup = (site / path).read_text("utf-8")
        policy = policies(markup)
        assert len(policy) == 1, f"{path}: {len(policy)} Content-Security-Policy meta tags"
        script_src = re.search(r"script-src ([^;]*)", policy[0]).group(1).split()
        assert script_src[0] == "'self'", f"{path}: {policy[0]}"
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(script_src), path
        assert "object-src 'none'" in policy[0] and "base-uri 'self'" in policy[0], path
        assert "form-action 'self'" in policy[0], path
        if re.search(r"http-equiv=.Refresh", markup, re.I):  # a redirect stub: the page it opens
            page.wait_for_url(lambda url, stub=path: not url.endswith(stub))  # is visited
            page.wait_for_load_state("load")
            continue
        hrefs = page.eval_on_selector_all("[href]", "els => els.map(e => e.getAttribute('href'))")
        bad = [h for h in hrefs if re.sub(r"[\x00-\x20]", "", h).lower().startswith("javascript:")]
        assert bad == [], f"{path}: {bad}"
        handlers = inline_handlers(markup)
        assert handlers == [], f"{path}: inline event handlers in the markup: {handlers}"
        texts[path] = _flat(page.inner_text("body")) + " " + _flat(page.title())
        # every link whose markup carries planted text, or inside a block of outside text;
        # the same link on many pages (the navigation) is clicked once
        links = page.eval_on_selector_all(
            "a",
            """els => els.map((e, i) => [i, e.href, e.outerHTML,
                                         e.closest('.portal-untrusted') !== null])
                   .filter(([i, href, html, inside]) => inside || /planted|alert\\(/.test(html))""",
        )
        for index, href, html, _ in links:
            if (href, html) in clicked:
                continue
            if page.url.split("#")[0] != server + path:
                visit(page, server + path)
            page.locator("a").nth(index).evaluate("a => a.click()")
            page.wait_for_timeout(100)  # a navigation the click started, if any, settles
            page.wait_for_load_state("load")
            clicked[(href, html)] = path

    assert dialogs == []
    assert policy_errors == [], policy_errors[:5]
    # the book's theme declares a constant twice on every page (with or without a policy)
    script_errors = [e for e in script_errors if "'THEBE_JS_URL' has already" not in e]
    assert script_errors == [], script_errors[:5]
    assert len(clicked) >= 5, clicked
    everything = " ".join(texts.values())
    whole = [s for s in MARKERS if s not in IN_PART + AS_DATA]
    hidden = [s for s in whole if _flat(planted(s)) not in everything]
    hidden += [s for s in IN_PART if f"{MARKERS[s]} {PAYLOADS[0]}" not in everything]
    assert hidden == [], f"planted text not shown as text: {hidden}"


@needs_chromium
def test_the_json_ld_holds_the_planted_title_as_data(page, server):  # noqa: F811
    page.goto(server + "datpark/index.html")
    scripts = page.locator('script[type="application/ld+json"]')
    assert scripts.count() == 1
    data = json.loads(scripts.first.text_content())
    # the demo card is synthetic: the name says so after the (planted) title
    assert data["name"] == planted("card title") + " (synthetic data)"
    assert data["creator"][0]["name"] == planted("card creator")
    assert data["citation"] == planted("card citation title")
    assert "</script>" not in scripts.first.evaluate("s => s.innerHTML")


@needs_chromium
def test_search_works_under_the_policy_and_shows_planted_text_inert(page, server):  # noqa: F811
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(server + "index.html")
    page.wait_for_load_state("networkidle")  # the search index is loaded by a worker
    # the policy is in force: an inline script added to the page does not run
    page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__inline_ran = true'; document.head.append(s); }"""
    )
    assert page.evaluate("window.__inline_ran") is None
    page.locator("input.md-search__input").click()
    page.keyboard.type(MARKERS["card section"])
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15_000)
    text = " ".join(results.all_inner_texts())
    assert MARKERS["card section"] in text
    assert page.locator(".md-search-result script, .md-search-result img").count() == 0
    assert dialogs == []
