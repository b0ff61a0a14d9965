"""The reproduction book: one Jupyter Book (1.x) per challenge, executed at build time.

Its MyST notebooks load the release and the MLflow runs with plain pandas and
the MLflow client, as a reader would, and redraw the key figures. The book is
written from templates below into a build folder that is never committed; the
notebooks are executed by Jupyter Book with a cache keyed on their text, and
the text names the inputs (release content hashes, run ids), so a new run or
release re-executes them and nothing else does. Jupyter Book 2.x is not used:
it downloads its theme at build time and cannot build offline.

The card's title is the only outside text the book's sources carry; it is made
inert by :mod:`portal.site.untrusted`. Every built page then gets a
Content-Security-Policy: script files from the book itself, and the theme's own
inline scripts by their hashes, each checked against the short list of what the
theme writes (:data:`THEME_INLINE_SCRIPTS`); any other inline script fails the build.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from portal.errors import BuildError, ToolMissingError
from portal.reproduce import tracking
from portal.site import palette
from portal.site.sources import read_challenge, read_runs
from portal.site.untrusted import inline, plain, text

CACHE = Path(".portal-cache") / "book"

NOTEBOOK_HEAD = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
myst:
  html_meta:
    description: >-
      Executable notes that load a published release and the MLflow runs of the re-run
      winners, and redraw the key figures.
---
"""

#: The book in the site's look: its indigo, its tables, data frames that fit the page.
BOOK_CSS = """/* The portal's look for the reproduction book (written by portal/site/book.py). */
html[data-theme="light"] {
  --pst-color-primary: #3f51b5;
  --pst-color-secondary: #303f9f;
  --pst-color-link: #303f9f;
  --pst-color-link-hover: #1a237e;
}
.bd-header-article, .bd-footer { border-color: #3f51b5; }
.bd-main .bd-content .bd-article-container { max-width: 64em; }
div.cell_output .output { overflow-x: auto; }
div.cell_output table.dataframe { font-size: 0.8em; }
a { text-decoration: underline; }
"""

DATA = """
# The data, release {version}

This notebook reads release {version} of `{challenge}` as a reader who downloaded
it would, checks the tables against the release manifest, and redraws the
figures of the data card.

```{{code-cell}} ipython3
# Inputs: release {version}, content hash {content_hash}, template {template}
import hashlib
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML

release = Path(os.environ["PORTAL_ROOT"]) / "data" / "{challenge}" / "releases" / "{version}"
manifest = json.loads((release / "manifest.json").read_text())
listed = {{f["path"]: f["sha256"] for f in manifest["files"]}}
for name in ("metadata/splits.csv", "metadata/labels.csv", "metadata/clinical.csv"):
    actual = hashlib.sha256((release / name).read_bytes()).hexdigest()
    assert actual == listed[name], f"{{name}} differs from the manifest"
    print(f"{{name}}: sha256 {{actual[:16]}}... matches the manifest")
```

```{{code-cell}} ipython3
splits = pd.read_csv(release / "metadata" / "splits.csv")
labels = pd.read_csv(release / "metadata" / "labels.csv")
clinical = pd.read_csv(release / "metadata" / "clinical.csv")
exams = splits.merge(labels.drop(columns="patient_id"), on="exam_id", how="left").merge(
    clinical, on="exam_id", how="left"
)
exams["label"] = exams["label"].fillna("withheld")
counts = pd.crosstab(exams["split"], exams["label"], margins=True, margins_name="all")
# a header on every column: the splits are a column of their own, not an unnamed index
HTML(counts.rename_axis(columns=None).reset_index().to_html(index=False))
```

```{{code-cell}} ipython3
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
pd.crosstab(exams["split"], exams["label"]).plot.barh(stacked=True, ax=left)
left.set_title("Exams per split and label")
for sex, group in exams.groupby("sex"):
    right.hist(group["age"], bins=range(30, 101, 5), alpha=0.6, label=f"{{sex}} (n={{len(group)}})")
right.set_title("Age by sex")
right.legend()
plt.show()
```

{flags}"""

#: The data notebook of a tabular release (the card's ``data_kind: tabular``): the tables
#: and figures come from the tabular modality's own code (portal/tabular/describe.py and
#: figures.py), the same the site's data card page draws with.
DATA_TABULAR = """
# The data, release {version}

This notebook reads release {version} of `{challenge}` as a reader who downloaded
it would, checks its data files against the release manifest, and redraws the
figures of the data card with the tabular modality's own figure code.

```{{code-cell}} ipython3
# Inputs: release {version}, content hash {content_hash}, template {template}
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Image, display

from portal.tabular import describe, figures

release = Path(os.environ["PORTAL_ROOT"]) / "data" / "{challenge}" / "releases" / "{version}"
manifest = json.loads((release / "manifest.json").read_text())
listed = {{f["path"]: f["sha256"] for f in manifest["files"] if f["path"].startswith("data/")}}
for name, expected in sorted(listed.items()):
    actual = hashlib.sha256((release / name).read_bytes()).hexdigest()
    assert actual == expected, f"{{name}} differs from the manifest"
print(f"{{len(listed)}} data files: each sha256 matches the manifest")
```

The tables, their rows per split and columns:

```{{code-cell}} ipython3
tables = describe.tables(release)
rows = pd.DataFrame([{{"table": t.name, **t.rows, "columns": len(t.columns)}} for t in tables])
HTML(rows.to_html(index=False))  # a header on every column (no unnamed index)
```

Records per split and class (label withheld where the split's labels are):

```{{code-cell}} ipython3
counts = pd.DataFrame(describe.class_counts(release)).T.drop(columns="file")
HTML(counts.rename_axis("split").reset_index().to_html(index=False))
```

```{{code-cell}} ipython3
for draw in (figures.class_balance, figures.missingness, figures.example_signals):
    figure = draw(release)
    display(Image(figure.png))
    print(figure.alt)
```
"""

#: The reproduction notebook's cells for a binary task's calibration curves, and for the
#: attributions over time a team's ``explain`` wrote (tabular runs), drawn by the tabular
#: modality's figure code from the run's artifacts.
REPRODUCTION_TABULAR = """
```{{code-cell}} ipython3
fig, ax = plt.subplots(figsize=(5, 4.5), constrained_layout=True)
ax.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
for team, record in records.items():
    bins = (record.get("scores") or {{}}).get("calibration") or []
    if bins:
        ax.plot([b["mean_predicted"] for b in bins], [b["observed"] for b in bins], "o-",
                label=team)
ax.set_xlabel("mean predicted probability")
ax.set_ylabel("observed frequency")
ax.set_title("Calibration curves on {scoring_split}")
ax.legend(loc="upper left", frameon=False)
plt.show()
```

Attributions over time written by a team's `explain` step (the team's output, not a
finding of the portal), drawn with the tabular modality's figure code:

```{{code-cell}} ipython3
import tempfile

from IPython.display import Image, display

from portal.reproduce.plots import read_attributions
from portal.tabular import figures

for team, run in latest.items():
    listed = [a.path for a in client.list_artifacts(run.info.run_id, "run/explanations")]
    listed = sorted(p for p in listed if p.endswith(".npz"))[:4]
    if not listed:
        continue
    with tempfile.TemporaryDirectory() as folder:
        local = [Path(client.download_artifacts(run.info.run_id, p, folder)) for p in listed]
        for path in local:  # team output: drawn only if it passes the reproduction's checks
            try:
                read_attributions(path)
            except ValueError:
                path.unlink()
        try:
            figure = figures.attributions(local[0].parent)
        except Exception:  # whatever the team's arrays do, no figure
            continue
    print(f"{{team}}: {{figure.alt}}")
    display(Image(figure.png))
```
"""

#: One cell per hard-case flag of the card (its name is a plain identifier, checked by
#: the card's schema; its description is outside text, escaped).
FLAG_CELL = """
Exams with `{name}` true per split ({description}):

```{{code-cell}} ipython3
exams.groupby("split")["{name}"].apply(lambda g: int(g.astype(str).str.lower().eq("true").sum()))
```
"""

REPRODUCTION = """
# The reproductions, release {version}

Each winning solution was run again by the portal; the runs are in MLflow. This
notebook reads them with the MLflow client and compares the reproduced scores
with the official leaderboard.

```{{code-cell}} ipython3
# Inputs: runs {run_ids}, template {template}
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML
from mlflow.tracking import MlflowClient

root = Path(os.environ["PORTAL_ROOT"])
client = MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
experiment = client.get_experiment_by_name("{challenge}")
runs = []
if experiment is not None:
    runs = client.search_runs(
        [experiment.experiment_id],
        "attributes.status = 'FINISHED' and tags.release_version = '{version}'",
        order_by=["attributes.start_time DESC"],
    )
latest = {{}}
for run in runs:
    latest.setdefault(run.data.tags["team"], run)
print(f"{{len(latest)}} team(s) with a finished run on release {version}")
```

```{{code-cell}} ipython3
official = pd.read_csv(root / "reproduce" / "{challenge}" / "leaderboard.csv", comment="#")
records = {{}}
for team, run in latest.items():
    path = client.download_artifacts(run.info.run_id, "record.json")
    records[team] = json.loads(Path(path).read_text())
official["reproduced"] = official["team"].map(
    lambda t: latest[t].data.metrics.get("{metric}") if t in latest else None
)
official["verdict"] = official["team"].map(
    lambda t: latest[t].data.tags.get("verdict") if t in latest else "not run"
)
official["run"] = official["team"].map(lambda t: latest[t].info.run_id if t in latest else "")
shown = official[["rank", "team", "name", "private_score", "reproduced", "verdict", "run"]]
HTML(shown.to_html(index=False))  # a header on every column (no unnamed index)
```

```{{code-cell}} ipython3
# the site's colour-blind-safe palette (Okabe and Ito)
plt.rcParams["axes.prop_cycle"] = plt.cycler(color={palette})
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), constrained_layout=True)
for i, row in official.reset_index(drop=True).iterrows():
    left.plot(i, row["private_score"], "ks", label="official" if i == 0 else None)
    if (records.get(row["team"]) or {{}}).get("scores"):  # a failed run has no scores
        low, high = records[row["team"]]["verdict"]["ci"]
        value = row["reproduced"]
        left.errorbar(i + 0.15, value, yerr=[[value - low], [high - value]], fmt="o",
                      color="{blue}", label="reproduced, 95 % CI" if i == 0 else None)
left.set_xticks(range(len(official)), official["name"], rotation=20)
left.set_xlabel("team")
left.set_ylabel("{metric} on {scoring_split}")
left.set_title("Official vs reproduced")
left.legend(loc="upper left", bbox_to_anchor=(0, -0.35), frameon=False, ncols=2)
for team, record in records.items():
    if not record.get("scores"):
        continue
    roc = record["scores"]["roc"]
    right.plot([p[0] for p in roc], [p[1] for p in roc], label=team)
right.plot([0, 1], [0, 1], ":", color="grey")
right.set_xlabel("1 - specificity (false-positive rate)")
right.set_ylabel("sensitivity (true-positive rate)")
right.set_title("ROC curves on {scoring_split}")
right.legend(loc="lower right", frameon=False)
plt.show()
```
"""

INTRO = """# {plain_title}: reproduction book

Executable notes for **{title}**, built by the portal from the published
releases and the MLflow runs of the re-run winners, and executed when the site
was built. Run them yourself in a clone of the portal (`make setup`, then
`jupyter-book build` on the generated book, or open the notebooks in Jupyter
with `PORTAL_ROOT` and `MLFLOW_TRACKING_URI` set).

Back to the site: <a href="../../{challenge}/index.html">{html_title}</a>.
{translations}"""

#: What a reader of another language of the site is told at the top of the (English) book.
ENGLISH_ONLY = {
    "fr": (
        "<p lang=\"fr\"><strong>Ce carnet n'existe qu'en anglais</strong> : ses notes, son code "
        "Python et ses sorties sont ceux d'une session Jupyter. "
        '<a href="../../fr/{challenge}/index.html" hreflang="fr">Retour au site en français</a>.'
        "</p>"
    ),
}

#: The inline scripts Sphinx, the pydata/book theme, togglebutton and thebe write into the
#: book's pages (jupyter-book 1.x); a page may carry these and no other inline script.
THEME_INLINE_SCRIPTS = tuple(
    re.compile(pattern, re.S)
    for pattern in (
        r"\s*document\.documentElement\.dataset\.mode = "
        r'localStorage\.getItem\("mode"\) \|\| "(light)?";'
        r"\s*document\.documentElement\.dataset\.theme = "
        r'localStorage\.getItem\("theme"\) \|\| "(light)?";\s*',
        r"let toggleHint(Show|Hide) = '[\w ]*';",
        r"let toggleOpenOnPrint = '(true|false)';",
        r"var togglebuttonSelector = '[\w., -]*';",
        r'const THEBE_JS_URL = "https://unpkg\.com/thebe@[\d.]+/lib/index\.js"; '
        r'const thebe_selector = "[\w.,]*"; const thebe_selector_input = "\w*"; '
        r'const thebe_selector_output = "[\w., -]*"',
        r"DOCUMENTATION_OPTIONS\.pagename = '[\w/.-]*';",
        r"DOCUMENTATION_OPTIONS\.search_as_you_type = (true|false);",
        r"kernelName = '\w+'",
        r"\s*// Activate the search field on page load"
        r'\s*let searchInput = document\.querySelector\("form\.bd-search input"\);'
        r"\s*if \(searchInput\) \{\s*searchInput\.focus\(\);\s*searchInput\.select\(\);"
        r'\s*console\.log\("\[PST\]: Set focus on search field\."\);\s*\}\s*',
    )
)
#: Data blocks, not executed: the policy does not apply to them.
DATA_SCRIPT_TYPES = ("text/x-thebe-config", "application/json", "application/ld+json")
BOOK_POLICY = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'"
)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)


def write_book(
    root: Path, challenge_id: str, folder: Path, languages: tuple[str, ...] = ("en",)
) -> bool:
    """Write the book's sources; returns False when there is no release to write about.
    The book is in English; for each other of the site's ``languages`` its first page says
    so in that language and links back to that language's pages."""
    challenge = read_challenge(Path(root), challenge_id, challenge_id, with_runs=False)
    title = challenge.card.meta.title  # the organiser's card: outside text
    release = challenge.latest
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "title": f"{plain(title)}: reproduction book",
        "author": "Open challenge portal",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "cache", "timeout": 600, "allow_errors": False},
        "html": {
            "use_repository_button": False,
            "use_issues_button": False,
            "use_edit_page_button": False,
            "use_download_button": False,
        },
        "launch_buttons": {"thebe": False},
        "sphinx": {
            "config": {
                "nb_ipywidgets_js": {},  # no widget JavaScript from a CDN
                "nb_output_stderr": "remove",  # library warnings are not the reader's concern
                "html_show_copyright": False,
                # jupyter-book does not pass `use_download_button` or the full-screen switch on;
                # both buttons carry inline onclick handlers, which the page's policy refuses
                # an empty mode is "invalid" to the theme's script (a console error)
                "html_context": {"default_mode": "light"},
                # the site's icon: without one the browser asks for /favicon.ico (a 404)
                "html_favicon": "favicon.png",
                "html_static_path": ["_static"],
                "html_css_files": ["portal.css"],
                "html_theme_options": {
                    "search_bar_text": "Search this book...",
                    "launch_buttons": {"thebe": False},
                    "use_repository_button": False,
                    "use_issues_button": False,
                    "use_edit_page_button": False,
                    "use_download_button": False,
                    "use_fullscreen_button": False,
                },
            }
        },
    }
    import material

    icon = Path(material.__file__).parent / "templates" / "assets" / "images" / "favicon.png"
    shutil.copy(icon, folder / "favicon.png")
    (folder / "_static").mkdir(exist_ok=True)
    (folder / "_static" / "portal.css").write_text(BOOK_CSS, encoding="utf-8")
    chapters = []
    (folder / "intro.md").write_text(
        INTRO.format(
            # the theme prints page titles raw in its navigation: the heading has no markup
            plain_title=plain(title),
            title=inline(title),
            html_title=text(title),
            challenge=challenge_id,
            translations="".join(
                "\n" + ENGLISH_ONLY[code].format(challenge=challenge_id) + "\n"
                for code in languages
                if code in ENGLISH_ONLY
            ),
        ),
        encoding="utf-8",
    )
    if release is not None:
        found = read_runs(Path(root), challenge_id, artifacts=False)  # only the ids are needed
        runs = sorted(r.run_id for (_, v), r in found.items() if v == release.version)
        values = {
            "challenge": challenge_id,
            "version": release.version,
            "content_hash": release.content_hash,
            "run_ids": ", ".join(runs) or "none",
            "template": hashlib.sha256(
                (DATA + DATA_TABULAR + REPRODUCTION + REPRODUCTION_TABULAR).encode()
            ).hexdigest()[:12],
            "metric": challenge.rules.metric.official if challenge.rules else "balanced_accuracy",
            "scoring_split": challenge.rules.scoring_split if challenge.rules else "test",
            "palette": repr(palette.series(7)),
            "blue": palette.OKABE_ITO["blue"],
            "flags": "".join(
                FLAG_CELL.format(name=f.name, description=inline(f.description))
                for f in challenge.card.meta.schema.hard_case_fields()
            ),
        }
        tabular = challenge.card.meta.data_kind == "tabular"  # the modality's own notebook
        data = DATA_TABULAR if tabular else DATA
        (folder / "data.md").write_text(NOTEBOOK_HEAD + data.format(**values), encoding="utf-8")
        chapters.append({"file": "data"})
        if (
            challenge.rules
            and (Path(root) / "reproduce" / challenge_id / "leaderboard.csv").exists()
        ):
            (folder / "reproduction.md").write_text(
                NOTEBOOK_HEAD
                + REPRODUCTION.format(**values)
                + (REPRODUCTION_TABULAR.format(**values) if tabular else ""),
                encoding="utf-8",
            )
            chapters.append({"file": "reproduction"})
    toc = {"format": "jb-book", "root": "intro", **({"chapters": chapters} if chapters else {})}
    (folder / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (folder / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return release is not None


def build_book(
    root: Path, challenge_id: str, out: Path, languages: tuple[str, ...] = ("en",)
) -> None:
    """Write, execute and build the challenge's book into ``out`` (HTML), for a site in
    ``languages`` (see :func:`write_book`)."""
    root = Path(root).resolve()
    executable = Path(sys.executable).parent / "jupyter-book"
    if not executable.exists():
        raise ToolMissingError(
            "jupyter-book is not installed next to this Python.",
            hint="run `make setup` (it installs jupyter-book<2).",
        )
    work = root / CACHE / challenge_id
    source = work / "source"
    shutil.rmtree(source, ignore_errors=True)
    write_book(root, challenge_id, source, languages)
    digest = hashlib.sha256(
        b"".join(p.name.encode() + p.read_bytes() for p in sorted(source.rglob("*")) if p.is_file())
    ).hexdigest()
    html = work / "_build" / "html"
    stamp = work / "built-from.sha256"
    if (html / "index.html").exists() and stamp.exists() and stamp.read_text() == digest:
        _copy(html, out)  # same sources (they name the release hash and the run ids): same book
        return
    stamp.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PORTAL_ROOT": str(root),
        "MLFLOW_TRACKING_URI": tracking.tracking_uri(root),
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    command = [str(executable), "build", str(source), "--path-output", str(work), "-W", "-n"]
    for _ in range(2):  # a kernel that failed to start (a port race under load) gets one retry
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode == 0:
            break
    if done.returncode != 0 or not (html / "index.html").exists():
        reports = sorted((html / "reports").glob("*.err.log")) if html.exists() else []
        said = (done.stdout + done.stderr).splitlines()
        tail = "\n".join(
            [line for line in said if "WARNING" in line or "Error" in line][:20] + said[-10:]
        ) + "".join(f"\n{r.name}:\n{r.read_text()[-2000:]}" for r in reports)
        raise BuildError(
            f"the reproduction book of {challenge_id} did not build (exit {done.returncode}).",
            problems=tail.splitlines()[:40],
            hint=f"the executed notebooks and logs are in {work}/_build/.",
        )
    _copy(html, out)
    stamp.write_text(digest)


def _copy(html: Path, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out, ignore=shutil.ignore_patterns(".buildinfo", "*macros.html"))
    for page in sorted(out.rglob("*.html")):
        text = with_landmarks(page.read_text("utf-8"))
        page.write_text(with_policy(text, page.relative_to(out)), "utf-8")


#: The theme's link to the book's first page, alone in the sidebar outside any landmark.
_BRAND = re.compile(r'<div class="sidebar-primary-item">(\s*<a class="navbar-brand\b)')


def with_landmarks(page: str) -> str:
    """Every part of a book page inside a landmark (axe-core's ``region`` rule): the theme
    leaves the sidebar's title link outside one, so it becomes a navigation of its own."""
    return _BRAND.sub(
        r'<div class="sidebar-primary-item" role="navigation" aria-label="Book home">\1', page
    )


def _without_repeated_scripts(page: str) -> str:
    """A page whose theme writes the same inline script twice (thebe's ``const`` lines) would
    log "Identifier has already been declared": keep the first copy of each."""
    seen: set[str] = set()

    def once(match: re.Match) -> str:
        attributes, body = match.groups()
        if re.search(r"\bsrc\s*=", attributes, re.I) or not body.strip():
            return match.group(0)
        if body in seen:
            return ""
        seen.add(body)
        return match.group(0)

    return _SCRIPT.sub(once, page)


def with_policy(page: str, name: Path | str) -> str:
    """The page with a Content-Security-Policy meta tag first in its head: the book's own
    script files, and its inline scripts by hash once each is known to be the theme's."""
    page = _without_repeated_scripts(page)
    hashes = set()
    for match in _SCRIPT.finditer(page):
        attributes, body = match.groups()
        kind = re.search(r"""\btype\s*=\s*["']?([^"'\s>]+)""", attributes, re.I)
        if re.search(r"\bsrc\s*=", attributes, re.I) or (
            kind and kind.group(1).lower() in DATA_SCRIPT_TYPES
        ):
            continue
        if not any(p.fullmatch(body) for p in THEME_INLINE_SCRIPTS):
            raise BuildError(
                f"the reproduction book page {name} holds an inline script the theme does not "
                f"write: {' '.join(body.split())[:80]!r}",
                hint="outside text reached the book unescaped (portal/site/untrusted.py), or "
                "a new theme version writes a new script (add it to THEME_INLINE_SCRIPTS).",
            )
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes.add(f"'sha256-{digest}'")
    policy = BOOK_POLICY.format(hashes=" ".join(sorted(hashes))).replace("  ", " ")
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
    head = _HEAD.search(page)  # the redirect stub (index.html) is a bare <meta>: no <head>
    at = head.end() if head else 0
    return page[:at] + meta + page[at:]
