"""The site's generated pages, written at build time through a writer.

Every page is made from :mod:`portal.site.sources`; no number is typed here.
Each table or figure says where it comes from: a release file (with its
sha256 in the manifest) or an MLflow run (with its id), so a reader can check
it. Every text the portal did not write (cards, params titles and notes, team
files, MLflow tags and artifacts) goes through :mod:`portal.site.untrusted`.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
from collections.abc import Callable
from pathlib import Path

import yaml

from portal.site import figures, jsonld, untrusted
from portal.site.sources import ChallengeInfo, ReleaseInfo, RunInfo, Sources, TeamInfo
from portal.site.untrusted import code, fenced, html_block, inline, link, preformatted

#: Written into every generated page's front matter; tests and the link check use it.
GENERATOR = "portal.site"
#: The badge of a team with no run yet; a verdict's badge shows the verdict itself.
NOT_RUN = "not yet run"
RELEASE_COPIES = (
    "SHA256SUMS",
    "manifest.json",
    "changes.json",
    "citation.bib",
    "CITATION.cff",
    "datacite.json",
    "croissant.json",
    "deid_report.json",
)

Writer = Callable[[str, str | bytes], None]


def number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def badge(verdict: str | None) -> str:
    """The verdict as shown, with a CSS class derived from it (``within noise`` ->
    ``verdict-within-noise``); the theme's stylesheet styles each verdict."""
    shown = NOT_RUN if verdict is None else str(verdict)
    css = untrusted.slug(shown)
    return f'<span class="verdict verdict-{css}">{inline(shown)}</span>'


def page(meta: dict, body: str) -> str:
    """A generated page; its ``title`` is escaped here (the theme prints titles raw)."""
    meta = {**meta, "title": untrusted.title(meta["title"])}
    front = yaml.safe_dump({**meta, "generator": GENERATOR}, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{body.rstrip()}\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def who(t: TeamInfo) -> str:
    return f"**{inline(t.team.algorithm.team)}**<br>{inline(t.team.algorithm.title)}"


def hardware_cell(run: RunInfo) -> str:
    """The hardware check of a run, for the leaderboard: from its MLflow tags and metrics."""
    sensitive = run.tags.get("hardware.sensitive")
    if sensitive == "False":
        return "same bytes"
    if sensitive != "True":
        return "not checked"
    low, high = run.metrics.get("hardware_band_low"), run.metrics.get("hardware_band_high")
    return f"**sensitive** [{number(low, 3)}, {number(high, 3)}]"


def nav_label(text: str) -> str:
    """A navigation entry: literate-nav reads Markdown link text, so no brackets, no HTML."""
    return html.escape(text.replace("[", "(").replace("]", ")"), quote=False)


def mlflow_link(site, run: RunInfo) -> str:
    return f"{site.mlflow_ui}#/experiments/{run.experiment_id}/runs/{run.run_id}"


def download_recipes(
    base: str, name: str, content_hash: str, repository: str, path: str
) -> dict[str, tuple[str, list[str]]]:
    """The download page's recipes, by tab title: (language, lines). Each ends in
    ``portal verify --expect`` against the published content hash; the curl recipe
    fetches exactly the files ``SHA256SUMS`` lists (``manifest.json`` included) and
    refuses absolute paths and ``..`` in that list."""
    verify = f"portal verify {name} --expect {content_hash}"
    return {
        "curl + sha256sum": (
            "bash",
            [
                f"mkdir {name} && cd {name}",
                f"curl -fsSLO {base}SHA256SUMS",
                "cut -d' ' -f3- SHA256SUMS | while read -r f; do",
                '  case "$f" in /*|*..*) echo "refused: $f" >&2; exit 1;; esac',
                f'  curl -fsSL --create-dirs -o "$f" "{base}$f"',
                "done",
                "sha256sum -c SHA256SUMS",
                "cd ..",
                verify,
            ],
        ),
        "dvc get": (
            "bash",
            [
                f"dvc get {repository} {path} -o {name}",
                f"(cd {name} && sha256sum -c SHA256SUMS)",
                verify,
            ],
        ),
        "datasets": (
            "python",
            [
                "# after the curl or dvc get recipe and its `portal verify ... --expect`",
                "from datasets import load_dataset",
                "",
                f'ds = load_dataset("{name}")  # the verified folder',
                'print(ds["train"][0]["label"])',
            ],
        ),
    }


def hub_recipe(repo: str, version: str, name: str, content_hash: str) -> list[str]:
    """Download a version from the Hub by its tag, verify it, then load that folder."""
    return [
        f"hf download {repo} --repo-type dataset --revision {version} --local-dir {name}",
        f"rm -rf {name}/.cache  # the download tool's own bookkeeping, not the release",
        f"portal verify {name} --expect {content_hash}",
        f"python -c 'import datasets; print(datasets.load_dataset(\"{name}\"))'",
    ]


class SiteWriter:
    """Generates every page of every challenge through ``write(path, content)``."""

    def __init__(self, sources: Sources, write: Writer, *, book: bool = True) -> None:
        self.book = book
        self.sources = sources
        self.site = sources.site
        self.write = write
        self.nav: list[str] = []

    # -- the whole site -------------------------------------------------------------
    def generate(self, manual: list[tuple[str, str]] = ()) -> None:
        self.home()
        for challenge in self.sources.challenges:
            self.challenge(challenge)
        self.nav += ["- Documentation"] + [f"    - [{t}]({p})" for t, p in manual]
        self.write("SUMMARY.md", "- [Home](index.md)\n" + "\n".join(self.nav) + "\n")

    def home(self) -> None:
        rows = []
        for c in self.sources.challenges:
            latest = c.latest
            runs = [r for r in c.runs.values() if latest and r.version == latest.version]
            ok = sum(r.verdict == "reproduced" for r in runs)
            rows.append(
                [
                    f"[{inline(c.title)}]({c.id}/index.md)",
                    inline(c.card.meta.modality),
                    latest.version if latest else "none yet",
                    str(len(latest.tables.get("splits", []))) if latest else "0",
                    f"{ok} of {len(c.teams)}" if c.teams else "no teams",
                ]
            )
        body = [
            f"# {inline(self.site.name)}",
            "",
            "Open data and re-run winning algorithms of health-data science challenges. "
            "Every dataset here was de-identified and verified before publication; every "
            "version is immutable and citable; every winning algorithm was run again, in its "
            "own pinned environment, on a pinned version of the data, and the result is "
            "shown beside the score the challenge announced.",
            "",
            "## Challenges",
            "",
            table(["Challenge", "Modality", "Latest version", "Exams", "Winners reproduced"], rows),
            "Counts come from each release's `metadata/splits.csv`; verdicts from the MLflow "
            "run of each team on the latest release.",
        ]
        self.write("index.md", page({"title": "Home"}, "\n".join(body)))

    # -- one challenge -------------------------------------------------------------
    def challenge(self, c: ChallengeInfo) -> None:
        nav = [
            f"- {nav_label(c.title)}",
            f"    - [Overview]({c.id}/index.md)",
            f"    - [Data card]({c.id}/data-card.md)",
            f"    - [Versions]({c.id}/versions.md)",
            f"    - [Download]({c.id}/download.md)",
            f"    - [Leaderboard]({c.id}/leaderboard.md)",
        ]
        nav += [
            f"    - [{nav_label(t.team.algorithm.team)}]({c.id}/teams/{t.team.id}.md)"
            for t in c.teams
        ]
        nav.append(f"    - [Cite]({c.id}/citation.md)")
        self.nav += nav
        for release in c.releases:
            for name in RELEASE_COPIES:
                path = release.path / name
                if path.exists():
                    self.write(f"{c.id}/{release.version}/{name}", path.read_bytes())
        self.overview(c)
        self.data_card(c)
        self.versions(c)
        self.download(c)
        self.leaderboard(c)
        for team in c.teams:
            self.report(c, team)
        self.citation(c)

    def _jsonld(self, c: ChallengeInfo, path: str) -> dict:
        if c.latest is None:
            return {}
        url = self.site.url + path.removesuffix(".md") + ".html"
        return {"jsonld": jsonld.script_text(jsonld.dataset(c.card.meta, c.latest, self.site, url))}

    def overview(self, c: ChallengeInfo) -> None:
        meta = c.card.meta
        out = [f"# {inline(c.title)}", "", inline(meta.summary), ""]
        question = c.card.sections.get("Motivation", "").split("\n\n")[0]
        if question:
            out += ["## The clinical question", "", html_block(question), ""]
        classes = ", ".join(inline(k) for k in meta.task.classes)
        facts = [
            ["Task", f"{meta.task.type}: {code(meta.task.target)} ({classes})"],
            ["Modality", inline(meta.modality)],
            ["Body part", inline(meta.body_part)],
            ["License", link(meta.license, meta.license_url)],
            ["Publisher", inline(meta.publisher)],
        ]
        if c.latest:
            facts += [
                ["Latest version", f"[{c.latest.version}](versions.md) ({c.latest.date})"],
                ["Exams", str(len(c.latest.tables.get("splits", [])))],
                ["Size", f"{size(c.latest.total_bytes)} in {c.latest.file_count} files"],
            ]
        out += ["## At a glance", "", table(["", ""], facts)]
        if c.rules:
            r = c.rules
            out += ["## Phases", ""]
            out.append(
                table(
                    ["Phase", "From", "To", "Scored on", "What happened"],
                    [
                        [
                            inline(p.name),
                            inline(p.start),
                            inline(p.end),
                            code(p.split),
                            inline(p.description),
                        ]
                        for p in r.phases
                    ],
                )
            )
            out += [
                "## Metric",
                "",
                f"The official metric is **{inline(r.metric.official.replace('_', ' '))}** on "
                f"{code(r.scoring_split)} (positive class: {inline(r.metric.positive_class)}); "
                "secondary: "
                f"{', '.join(inline(m.replace('_', ' ')) for m in r.metric.secondary) or 'none'}. "
                f"A re-run counts as *reproduced* when it lands within "
                f"**{inline(r.tolerance)}** of the official score; the 95 % bootstrap interval "
                f"({inline(r.bootstrap.resamples)} resamples) shows how much the score could "
                "move by chance alone. Rules: `reproduce/"
                f"{c.id}/challenge.yaml`.",
                "",
            ]
        out += [
            "## Explore",
            "",
            "- [Data card](data-card.md): who made the data, how, what it contains, its limits.",
            "- [Download](download.md): every version, with checksums and one-line commands.",
            "- [Leaderboard](leaderboard.md): the winners, re-run; which scores reproduce.",
            "- [Cite](citation.md): BibTeX, CFF, DataCite and Croissant for each version.",
        ]
        if self.book:
            out.append(
                f'- <a href="../book/{c.id}/index.html">Reproduction book</a>: executable notes '
                "that load the release and the MLflow runs and redraw the key figures."
            )
        else:
            out.append("- Reproduction book: not built this time (`portal site build` builds it).")
        self.write(
            f"{c.id}/index.md",
            page({"title": c.title, **self._jsonld(c, f"{c.id}/index.md")}, "\n".join(out)),
        )

    def data_card(self, c: ChallengeInfo) -> None:
        meta = c.card.meta
        out = [f"# Data card: {inline(c.title)}", ""]
        out += [
            f"Source: `{c.card_path.relative_to(self.sources.root)}` (the organiser's card, "
            "validated before every release), with statistics computed from the latest release.",
            "",
        ]
        release = c.latest
        if release is not None:
            out += self._statistics(c, release)
        policies = []
        for split, policy in meta.split_policy.items():
            text = (
                policy if isinstance(policy, str) else f"embargoed until {policy.embargoed_until}"
            )
            policies.append([f"`{split}`", text])
        out += ["## Split policy", "", table(["Split", "Labels"], policies)]
        deid = meta.deidentification
        out += [
            "## De-identification",
            "",
            "DICOM PS3.15 Annex E Basic profile with the options below; an independent verifier "
            "checked every file before release (see each version's `deid_report.json`).",
            "",
            *fenced(yaml.safe_dump(deid.model_dump(mode="json"), sort_keys=False), "yaml"),
            "",
        ]
        out += ["## Datasheet", ""]
        for name, text in c.card.sections.items():
            out += [f"### {inline(name)}", "", html_block(text), ""]
        self.write(
            f"{c.id}/data-card.md",
            page(
                {"title": f"Data card: {c.title}", **self._jsonld(c, f"{c.id}/data-card.md")},
                "\n".join(out),
            ),
        )

    def _statistics(self, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        stats = figures.counts(release)
        labels = sorted({label for _, label in stats["split_label"]})
        splits = list(stats["split"])
        rows = [
            [code(s), str(stats["split"][s])]
            + [str(stats["split_label"][(s, label)]) for label in labels]
            + [str(stats["gray_zone"][s])]
            for s in splits
        ]
        tables = ["metadata/splits.csv", "metadata/labels.csv", "metadata/clinical.csv"]
        sources = figures.source_files(release, *tables)
        cite = ", ".join(f"`{p}` (sha256 `{h[:12]}…`)" for p, h in sources)
        out = [
            f"## In numbers (release {release.version})",
            "",
            table(["Split", "Exams"] + [inline(label) for label in labels] + ["Gray zone"], rows),
            f"From {cite}.",
            "",
        ]
        base = f"{c.id}/figures/{release.version}"
        plots = [
            ("class-balance.png", "Exams per split and label", figures.class_balance),
            ("centres.png", "Exams per coded centre", figures.centres),
            ("age-sex.png", "Age by sex", figures.age_sex),
        ]
        for name, alt, draw in plots:
            self.write(f"{base}/{name}", draw(release))
            out += [f"![{alt}](figures/{release.version}/{name})", ""]
        out.append(f"*Figures drawn at build time from {', '.join(f'`{t}`' for t in tables)}.*")
        out.append("")
        png, exams, shard = figures.example_slices(release)
        if png is not None:
            self.write(f"{base}/examples.png", png)
            out += [
                "## What an exam looks like",
                "",
                "![Example transaxial slices](figures/" + release.version + "/examples.png)",
                "",
                f"*The slice of peak uptake of {' and '.join(exams)} (clear cases, not in the "
                f"gray zone), read from `data/{shard}`. A normal scan shows two comma-shaped "
                "striata; loss of uptake in the putamen turns them into dots.*",
                "",
            ]
        return out

    def versions(self, c: ChallengeInfo) -> None:
        out = [
            f"# Versions of {inline(c.title)}",
            "",
            "Versions follow semantic versioning for data: MAJOR when labels or splits change, "
            "MINOR when exams are added, PATCH for metadata only. A published version never "
            "changes. Each version's changes are computed from the data (`changes.json`).",
            "",
        ]
        rows = [
            [
                r.version,
                r.date,
                r.changes.get("parent") or "none",
                str(len(r.tables.get("splits", []))),
                size(r.total_bytes),
                f"`{r.content_hash.removeprefix('sha256:')[:16]}…`",
            ]
            for r in reversed(c.releases)
        ]
        out.append(table(["Version", "Date", "Parent", "Exams", "Size", "Content hash"], rows))
        for r in reversed(c.releases):
            ch = r.changes
            out += [f"## {r.version}", "", f"Released {r.date}. ", ""]
            notes = r.changelog.split(f"## {r.version}", 1)[-1].split("\n## ")[0].strip()
            if notes:  # the release notes of params.yaml, as the release's CHANGELOG.md has them
                out += [html_block("\n".join(notes.splitlines()[1:])), ""]
            kinds = [
                ("exams added", "exams_added"),
                ("exams removed", "exams_removed"),
                ("labels changed", "labels_changed"),
                ("labels released", "labels_released"),
                ("splits changed", "splits_changed"),
                ("metadata changed", "metadata_changed"),
                ("files added", "files_added"),
                ("files removed", "files_removed"),
                ("files changed", "files_changed"),
            ]
            if ch.get("parent"):
                out.append(
                    table(
                        ["Change from " + ch["parent"], "Count"],
                        [[label, str(len(ch.get(key, [])))] for label, key in kinds],
                    )
                )
                out.append(
                    f"Bump required by these changes: **{ch.get('required_bump') or 'none'}**."
                )
                out.append("")
                for label, key in kinds:
                    items = ch.get(key, [])
                    if not items:
                        continue
                    shown = [
                        " ".join(f"{k}: {v}" for k, v in i.items()) if isinstance(i, dict) else i
                        for i in items[:50]
                    ]
                    out += [f'??? note "{label} ({len(items)})"', ""]
                    out += [f"    - {code(s)}" for s in shown]
                    if len(items) > 50:
                        out.append(f"    - … {len(items) - 50} more in changes.json")
                    out.append("")
            out += [
                f"Data: [changes.json]({r.version}/changes.json) · "
                f"[deid_report.json]({r.version}/deid_report.json) · "
                f"[manifest.json]({r.version}/manifest.json)",
                "",
            ]
        self.write(f"{c.id}/versions.md", page({"title": f"Versions: {c.title}"}, "\n".join(out)))

    def _hub_tabs(self, r) -> list[str]:
        """A tab per Hub repository verified to hold this version: download the tag,
        verify it against the content hash, load it."""
        out = []
        for hub in (m for m in r.mirrors if m["target"].startswith("hf://")):
            repo = hub["target"].removeprefix("hf://datasets/").split("@")[0]
            name = f"{repo.split('/')[-1]}-{r.version}"
            out += [f'=== "Hugging Face Hub ({inline(repo)})"', "", "    ```bash"]
            out += [f"    {line}" for line in hub_recipe(repo, r.version, name, r.content_hash)]
            out += ["    ```", ""]
        return out

    def _mirror_table(self, r) -> list[str]:
        """Where ``portal publish`` verified this very content (publications.json)."""
        if not r.mirrors:
            return []
        rows = [
            [code(m["target"]), inline(m["at"]), f"{inline(m['files'])} files, {size(m['bytes'])}"]
            for m in r.mirrors
        ]
        return [
            f"### Verified mirrors of {r.version}",
            "",
            "Each holds this exact content: after the upload, every file's size and checksum "
            "as the mirror reports them matched the manifest (source: "
            "`data/<challenge>/publications.json`).",
            "",
            table(["Mirror", "Checked (UTC)", "Content"], rows),
            "",
        ]

    def download(self, c: ChallengeInfo) -> None:
        out = [
            f"# Download {inline(c.title)}",
            "",
            "Every file of a version is listed with its size and sha256 in `manifest.json`, and "
            "`SHA256SUMS` lists them and `manifest.json` itself. Each recipe below ends in "
            "`portal verify <folder> --expect <content hash>`: it recomputes the content hash "
            "from the files and accepts only the one published here (and in `CITATION.cff`, "
            "DataCite, BibTeX and Croissant). Without the portal, `sha256sum -c SHA256SUMS` "
            "checks every file, manifest included, against the list; to tie that list to the "
            "published release, check that `manifest.json` records the content hash shown here "
            "(`grep -F <content hash> manifest.json`). Only `portal verify --expect` recomputes "
            "the hash from the files themselves. Older versions stay available and never change.",
            "",
        ]
        for r in reversed(c.releases):
            base = f"{self.site.downloads}{c.id}/{r.version}/"
            name = f"{c.id}-{r.version}"
            dicom = [f for f in r.manifest.files if f.path.startswith("dicom/")]
            others = [f for f in r.manifest.files if not f.path.startswith("dicom/")]
            out += [
                f"## Version {r.version}",
                "",
                f"**{size(r.total_bytes)}** ({r.total_bytes} bytes) in **{r.file_count} files**, "
                f"released {r.date}. Content hash `{r.content_hash}`.",
                "",
            ]
            recipes = download_recipes(
                base,
                name,
                r.content_hash,
                self.site.repository,
                f"data/{c.id}/releases/{r.version}",
            )
            for title, (language, lines) in recipes.items():
                out += [f'=== "{title}"', "", f"    ```{language}"]
                out += [f"    {line}" if line else "" for line in lines]
                out += ["    ```", ""]
            out += self._hub_tabs(r)
            rows = [[f"[`{f.path}`]({base}{f.path})", str(f.size), f"`{f.sha256}`"] for f in others]
            out += [
                f"### Files of {r.version}",
                "",
                table(["File", "Bytes", "sha256"], rows),
            ]
            by_split: dict[str, list] = {}
            for f in dicom:
                by_split.setdefault(f.path.split("/")[1], []).append(f)
            if by_split:
                out += [
                    "The de-identified DICOM, by split (each file's sha256 is in "
                    f"[SHA256SUMS]({r.version}/SHA256SUMS)):",
                    "",
                    table(
                        ["Folder", "Files", "Bytes"],
                        [
                            [f"`dicom/{s}/`", str(len(fs)), str(sum(f.size for f in fs))]
                            for s, fs in sorted(by_split.items())
                        ],
                    ),
                ]
            out += [
                f"Lists: [SHA256SUMS]({r.version}/SHA256SUMS) · "
                f"[manifest.json]({r.version}/manifest.json)",
                "",
                *self._mirror_table(r),
            ]
        self.write(
            f"{c.id}/download.md",
            page(
                {"title": f"Download: {c.title}", **self._jsonld(c, f"{c.id}/download.md")},
                "\n".join(out),
            ),
        )

    # -- reproduction ----------------------------------------------------------------
    def _versions_with_runs(self, c: ChallengeInfo) -> list[str]:
        versions = [
            r.version for r in reversed(c.releases) if any(k[1] == r.version for k in c.runs)
        ]
        return versions or ([c.latest.version] if c.latest else [])

    def leaderboard(self, c: ChallengeInfo) -> None:
        rules = c.rules
        metric = rules.metric.official if rules else "score"
        split = rules.scoring_split if rules else "test"
        out = [
            f"# Leaderboard: {inline(c.title)}",
            "",
            f"The official score is the one the challenge announced (`{metric}` on `{split}`); "
            "the reproduced score is the portal's own scoring of predictions made by the team's "
            "code, re-run in its pinned environment on the pinned release, with its 95 % "
            "bootstrap interval.",
            "",
        ]
        for version in self._versions_with_runs(c):
            rows = []
            for t in c.teams:
                run = c.runs.get((t.team.id, version))
                official = t.official.private_score if t.official else None
                report = f"[report](teams/{t.team.id}.md)"
                if run is None:
                    rows.append(
                        [
                            str(t.official.rank if t.official else "–"),
                            who(t),
                            number(official),
                            "–",
                            badge(None),
                            "–",
                            "–",
                            "–",
                            report,
                        ]
                    )
                    continue
                verdict = run.record.get("verdict", {})
                ci = verdict.get("ci") or [None, None]
                reproduced = run.metrics.get(metric)
                rows.append(
                    [
                        str(t.official.rank if t.official else "–"),
                        who(t),
                        number(official),
                        f'<span class="reproduced-score">{number(reproduced)}</span> '
                        f"[{number(ci[0], 3)}, {number(ci[1], 3)}]",
                        badge(run.verdict),
                        {"True": "yes", "False": "**no**"}.get(
                            run.tags.get("deterministic"), "not checked"
                        ),
                        hardware_cell(run),
                        f"{run.metrics.get('wall_seconds', float('nan')):.0f} s",
                        f"{report} · [MLflow run]({mlflow_link(self.site, run)})",
                    ]
                )
            out += [
                f"## Release {version}",
                "",
                table(
                    [
                        "Rank",
                        "Team and method",
                        "Official",
                        "Reproduced [95 % CI]",
                        "Verdict",
                        "Same twice",
                        "Other kernels",
                        "Runtime",
                        "Details",
                    ],
                    rows,
                ),
                f"Official scores: `reproduce/{c.id}/leaderboard.csv`. Reproduced scores: metric "
                f"`{metric}` of each team's latest finished run on release {version} in the "
                f"MLflow experiment `{c.id}`; intervals from the run's `record.json` artifact. "
                f"Tolerance: {rules.tolerance if rules else 'n/a'}.",
                "",
            ]
        out += [
            "**Verdicts.** *reproduced*: within the tolerance of the official score. *within "
            "noise*: outside the tolerance but inside the bootstrap interval. *not reproduced*: "
            "outside both. *failed*: the code did not run to the end; the report says where.",
            "",
            "**Other kernels.** Each team runs with portable numerics (the same bytes on any "
            "x86-64 machine) unless it opted out; its scoring steps are re-run with the other "
            "setting (the machine's native kernels, or the portable ones). *same bytes*: the "
            "predictions did not change. *sensitive*: they did, and the interval is the "
            "hardware-noise band of the official metric between the two.",
            "",
            f"Re-run any of them: `dvc repro reproduce@{c.id}-<version>-<team>` "
            f"or `portal reproduce {c.id} <team>`.",
        ]
        self.write(
            f"{c.id}/leaderboard.md", page({"title": f"Leaderboard: {c.title}"}, "\n".join(out))
        )

    def report(self, c: ChallengeInfo, t: TeamInfo) -> None:
        algo = t.team.algorithm
        folder = f"{c.id}/teams/{t.team.id}"
        out = [f"# {inline(algo.team)}: {inline(algo.title)}", ""]
        facts = [
            ["Official rank", str(t.official.rank) if t.official else "–"],
            ["Official score (private)", number(t.official.private_score if t.official else None)],
            ["Public leaderboard score", number(t.official.public_score if t.official else None)],
            ["License", inline(algo.license)],
            [
                "Upstream code",
                f"{link(algo.upstream.repository, algo.upstream.repository)} at "
                f"{code(algo.upstream.commit)}",
            ],
            ["Packaged in", f"`reproduce/{c.id}/{t.team.id}/`"],
            ["Seeds", inline(", ".join(map(str, algo.seeds)))],
            [
                "Resource limits",
                f"{inline(algo.resources.cpu_seconds)} CPU s, {inline(algo.resources.memory_gb)} "
                f"GB, {algo.resources.wall_seconds:.0f} s wall",
            ],
        ]
        out += [table(["", ""], facts)]
        versions = [v for v in self._versions_with_runs(c) if (t.team.id, v) in c.runs]
        if not versions:
            out += [
                "## Not yet reproduced",
                "",
                f"No finished MLflow run of this team yet. Run `portal reproduce {c.id} "
                f"{t.team.id}`.",
                "",
            ]
        else:
            run = c.runs[(t.team.id, versions[0])]
            out += self._run_section(c, t, run, folder)
            older = [c.runs[(t.team.id, v)] for v in versions[1:]]
            if older:
                out += ["## Other releases", ""]
                out.append(
                    table(
                        ["Release", "Verdict", "Reproduced", "MLflow run"],
                        [
                            [
                                r.version,
                                badge(r.verdict),
                                number(r.metrics.get(c.rules.metric.official if c.rules else "")),
                                f"[{r.run_id}]({mlflow_link(self.site, r)})",
                            ]
                            for r in older
                        ],
                    )
                )
        out += [
            "## Model card",
            "",
            "*Written by the team; shown as text, with no HTML, scripts or remote images.*",
            "",
            html_block(t.model_card),
        ]
        self.write(f"{folder}.md", page({"title": f"{algo.team}: {algo.title}"}, "\n".join(out)))

    def _run_section(self, c: ChallengeInfo, t: TeamInfo, run: RunInfo, folder: str) -> list[str]:
        rec = run.record
        verdict = rec.get("verdict", {})
        scores = rec.get("scores") or {}
        name = t.team.id
        export = {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment_id": run.experiment_id,
            "tracking_uri": run.tracking_uri.split("?")[0]
            if run.tracking_uri.startswith("sqlite")
            else "",
            "start_time": run.start_time,
            "metrics": run.metrics,
            "params": run.params,
            "tags": run.tags,
        }
        self.write(f"{folder}/mlflow-run.json", json.dumps(export, indent=2, sort_keys=True) + "\n")
        started = dt.datetime.fromtimestamp(run.start_time / 1000, dt.UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        out = [
            f"## Reproduction on release {run.version}",
            "",
            f"{badge(run.verdict)} {inline(verdict.get('reason', ''))}",
            "",
            f"MLflow run `{run.run_id}` ({inline(run.run_name)}, started {started}) in experiment "
            f"`{c.id}`: [exported run]({name}/mlflow-run.json) · "
            f"[open in the MLflow UI]({mlflow_link(self.site, run)}). Release content hash "
            f"{code(run.tags.get('release.content_hash', '?'))}.",
            "",
        ]
        if rec.get("log_tail"):
            out += [
                "### Where it failed",
                "",
                "The last lines the team's code wrote (shown as text):",
                "",
                preformatted(str(rec["log_tail"])),
            ]
        metric_rows = []
        for key in (
            "balanced_accuracy",
            "roc_auc",
            "gray_zone_balanced_accuracy",
            "clear_balanced_accuracy",
        ):
            if key in run.metrics:
                metric_rows.append([key.replace("_", " "), number(run.metrics[key]), f"`{key}`"])
        official = scores.get("official") or {}
        out += [
            "### Scores",
            "",
            table(["Metric", "Reproduced", "MLflow metric"], metric_rows),
            f"Official metric 95 % bootstrap interval: [{number(official.get('low'))}, "
            f"{number(official.get('high'))}] ({inline(official.get('resamples', '?'))} "
            "resamples). Official score announced by the challenge: "
            f"{number(t.official.private_score if t.official else None)}; "
            f"difference {number(verdict.get('difference'))}, "
            f"tolerance {inline(verdict.get('tolerance'))}.",
            "",
        ]
        if "roc.png" in run.figures or "confusion.png" in run.figures:
            out += ["### ROC curve and confusion matrix", ""]
            shown = []
            for fig, alt in (("roc.png", "ROC curve"), ("confusion.png", "Confusion matrix")):
                if fig in run.figures:
                    self.write(f"{folder}/{fig}", run.figures[fig])
                    shown.append(f'![{alt}]({name}/{fig}){{ width="340" }}')
            out += [
                " ".join(shown),
                "",
                "*Drawn by the portal from the team's predictions; MLflow artifacts `figures/`.*",
                "",
            ]
        subgroups = scores.get("subgroups") or {}
        titles = {
            "gray_zone": "Gray zone vs clear cases",
            "centre": "Per centre",
            "sex": "Per sex",
            "age_band": "Per age band",
        }
        for key, title in titles.items():
            groups = subgroups.get(key)
            if not groups:
                continue
            out += [f"### {title}", ""]
            out.append(
                table(
                    ["Group", "Exams", "Balanced accuracy", "ROC AUC"],
                    [
                        [
                            inline(g),
                            inline(v.get("n")),
                            number(v.get("balanced_accuracy")),
                            number(v.get("roc_auc")),
                        ]
                        for g, v in groups.items()
                    ],
                )
            )
        if subgroups:
            out += [
                "*From the run's `record.json` artifact (`scores.subgroups`). "
                "n/a: one class only.*",
                "",
            ]
        saliency = sorted(f for f in run.figures if f.startswith("saliency-"))
        if saliency:
            out += [
                "### Explanation maps",
                "",
                "Saliency over the striatum for a few exams of the scoring split, made by the "
                "team's `explain` entry point inside the sandbox:",
                "",
            ]
            shown = []
            for fig in saliency[:4]:  # file names come from the run's artifacts
                safe = untrusted.slug(fig.removesuffix(".png")) + ".png"
                self.write(f"{folder}/{safe}", run.figures[fig])
                shown.append(f'![{inline(fig)}]({name}/{safe}){{ width="340" }}')
            out += [" ".join(shown), ""]
        cost = rec.get("cost") or {}
        env = rec.get("environment") or {}
        det = rec.get("determinism") or {}
        steps = (rec.get("attempts") or {}).get("first") or []
        isolation = (steps[0].get("isolation") if steps else None) or {}
        out += [
            "### Environment and runtime",
            "",
            table(
                ["", ""],
                [
                    [
                        "Wall time (all steps, both runs)",
                        f"{number(cost.get('wall_seconds'), 1)} s",
                    ],
                    ["Peak memory", f"{number(cost.get('peak_memory_mb'), 1)} MB"],
                    [
                        "Same predictions twice",
                        {True: "yes", False: "**no**"}.get(det.get("identical"), "not checked"),
                    ],
                    [
                        "Requirements hash",
                        code(env.get("requirements_hash") or run.params.get("requirements_hash")),
                    ],
                    [
                        "Sandbox",
                        ", ".join(inline(k.replace("_", " ")) for k, v in isolation.items() if v)
                        or "none",
                    ],
                    ["Portal commit", code(run.tags.get("git.commit", "?"))],
                ],
            ),
        ]
        if steps:
            out += [
                "Steps of the first run (the second, which checks the predictions are the same, "
                "is in `record.json`):",
                "",
                table(
                    ["Step", "Wall s", "CPU s", "Peak MB", "Exit code"],
                    [
                        [
                            code(st.get("step")),
                            number(st.get("wall_seconds"), 1),
                            number(st.get("cpu_seconds"), 1),
                            number(st.get("peak_memory_mb"), 1),
                            inline(st.get("returncode")),
                        ]
                        for st in steps
                    ],
                ),
            ]
        out += self._numerics_section(rec)
        if run.environment:
            out += [
                '??? info "Installed packages (pip freeze)"',
                "",
                *fenced(run.environment, "text", indent="    "),
                "",
            ]
        return out

    # -- citation --------------------------------------------------------------------
    def _numerics_section(self, rec: dict) -> list[str]:
        """The numerical setting, the hardware check and the machine, from ``record.json``."""
        setting = rec.get("numerics") or {}
        machine = rec.get("hardware") or {}
        check = rec.get("hardware_check") or {}
        if not setting:
            return []
        chosen = inline(setting.get("setting", "?"))
        if setting.get("opted_out"):
            chosen += f" (the team opted out of portable numerics: {inline(setting.get('reason'))})"
        if check.get("identical") is True:
            seen = "the other setting gave the same predictions, byte for byte"
        elif check.get("identical") is False and check.get("band"):
            low, high = check["band"]
            inside = "inside" if check.get("official_in_band") else "outside"
            seen = (
                f"**sensitive**: [{number(low)}, {number(high)}], spread "
                f"{number(check.get('spread'))}; the official score lies {inside} it"
            )
        elif check.get("checked"):
            seen = f"not possible: {inline(check.get('failure') or check.get('sentence'))}"
        else:
            seen = "not run"
        probe = setting.get("probe") or {}
        torch = probe.get("torch") if isinstance(probe.get("torch"), dict) else None
        numpy = probe.get("numpy") if isinstance(probe.get("numpy"), dict) else None
        libraries = []
        if torch:
            libraries.append(
                f"torch {inline(torch.get('version'))}: CPU capability "
                f"{inline(torch.get('cpu_capability'))}, BLAS {inline(torch.get('blas'))}, "
                f"oneDNN {'on' if torch.get('mkldnn_enabled') else 'off'}, "
                f"{inline(torch.get('num_threads'))} thread(s)"
            )
        if numpy:
            libraries.append(
                f"numpy {inline(numpy.get('version'))}: {inline(numpy.get('blas'))}, OpenBLAS "
                f"core {inline(', '.join(map(str, numpy.get('openblas_core') or [])) or '?')}, "
                "SIMD beyond the baseline: "
                f"{inline(', '.join(map(str, numpy.get('simd_dispatch_enabled') or [])) or 'none')}"
            )
        pins = setting.get("pins") or {}
        rows = [
            ["Numerical setting", chosen],
            ["Hardware-noise band (native vs portable kernels)", seen],
            [
                "Machine",
                f"{inline(machine.get('cpu_model'))} ({inline(machine.get('isa_level'))}), "
                f"{inline(machine.get('usable_cpus'))} usable CPUs of "
                f"{inline(machine.get('logical_cpus'))}, {inline(machine.get('memory_gib'))} GiB",
            ],
            ["CPU flags that choose kernels", inline(" ".join(machine.get("kernel_flags") or []))],
            [
                "System",
                f"{inline(machine.get('os'))}, kernel {inline(machine.get('kernel'))}, "
                f"{inline(machine.get('libc'))}, Python {inline(probe.get('python', '?'))}",
            ],
            ["Numerical libraries (as the run saw them)", "; ".join(libraries) or "none probed"],
            [
                "Pinned variables",
                ", ".join(code(f"{k}={v}") for k, v in sorted(pins.items())) or "none",
            ],
        ]
        return [
            "### Numerics and machine",
            "",
            table(["", ""], rows),
            "*From the run's `record.json` (`numerics`, `hardware`, `hardware_check`) and the "
            "MLflow run's `numerics*` and `hardware.*` tags. docs/reproduction.md, \"Portable "
            'numerics", says what each variable pins and how to read the band.*',
            "",
        ]

    def citation(self, c: ChallengeInfo) -> None:
        out = [
            f"# Cite {inline(c.title)}",
            "",
            "Cite the exact version you used: each one has its own content hash, and its files "
            "never change. The records below are the release's own files.",
            "",
        ]
        for r in reversed(c.releases):
            out += [f"## Version {r.version}", ""]
            for label, name, lang in (
                ("BibTeX", "citation.bib", "bibtex"),
                ("CFF", "CITATION.cff", "yaml"),
                ("DataCite JSON", "datacite.json", "json"),
            ):
                out += [
                    f'=== "{label}"',
                    "",
                    *fenced(r.files[name], lang, indent="    "),
                    "",
                    f"    [Download {name}]({r.version}/{name})",
                    "",
                ]
            out += [
                f"Machine-readable description (Croissant 1.1, with responsible-AI fields): "
                f"[croissant.json]({r.version}/croissant.json).",
                "",
            ]
        self.write(
            f"{c.id}/citation.md",
            page(
                {"title": f"Cite: {c.title}", **self._jsonld(c, f"{c.id}/citation.md")},
                "\n".join(out),
            ),
        )


def directory_writer(root: Path) -> Writer:
    """A writer into a plain folder (tests, benchmarks, and debugging the pages)."""

    def write(path: str, content: str | bytes) -> None:
        target = Path(root) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")

    return write
