"""The site's generated pages, written at build time through a writer: one module per
page kind (home, overview, data card, versions, download, leaderboard, team report,
cite), each a mixin of :class:`SiteWriter`.

Every page is made from :mod:`portal.site.sources`; no number is typed here.
Each table or figure says where it comes from: a release file (with its
sha256 in the manifest) or an MLflow run (with its id), so a reader can check
it. Every text the portal did not write (cards, params titles and notes, team
files, MLflow tags and artifacts) goes through :mod:`portal.site.untrusted`.
"""

from __future__ import annotations

from collections.abc import Callable

from portal.site import i18n, jsonld, palette
from portal.site.i18n import t
from portal.site.pages.cite import CitePage
from portal.site.pages.common import (
    GENERATOR,
    NOT_RUN,
    RELEASE_COPIES,
    Writer,
    badge,
    directory_writer,
    nav_label,
    number,
    page,
    size,
    table,
)
from portal.site.pages.datacard import DataCardPage
from portal.site.pages.download import DownloadPage, download_recipes, hub_recipe
from portal.site.pages.home import HomePage
from portal.site.pages.leaderboard import LeaderboardPage
from portal.site.pages.overview import OverviewPage
from portal.site.pages.report import ReportPage
from portal.site.pages.versions import VersionsPage
from portal.site.sources import ChallengeInfo, Sources

__all__ = [
    "GENERATOR",
    "NOT_RUN",
    "SiteWriter",
    "Writer",
    "badge",
    "directory_writer",
    "download_recipes",
    "hub_recipe",
    "number",
    "page",
    "size",
    "table",
]


class SiteWriter(
    HomePage,
    OverviewPage,
    DataCardPage,
    VersionsPage,
    DownloadPage,
    LeaderboardPage,
    ReportPage,
    CitePage,
):
    """Generates every page of every challenge through ``write(path, content)``."""

    def __init__(
        self, sources: Sources, write: Writer, *, book: bool = True, drawn: dict | None = None
    ) -> None:
        self.book = book
        self.sources = sources
        self.site = sources.site
        self._write = write
        #: figures already drawn in this build, shared by its languages (see :meth:`drawing`)
        self.drawn = {} if drawn is None else drawn
        self.nav: list[str] = []
        self.language = i18n.current()
        #: from a page's folder up to the site's root: the book and the default language
        #: live there, the other languages one folder down
        self.root_prefix = "" if self.language.default else "../"

    def drawing(self, key: tuple, draw: Callable[[], object], *, words: bool = True):
        """What ``draw()`` returns, drawn once per build: once per language when the figure
        carries words (``words``), else once for every language."""
        key = (*key, self.language.code if words else "")
        if key not in self.drawn:
            self.drawn[key] = draw()
        return self.drawn[key]

    def write(self, path: str, content: str | bytes) -> None:
        """Write one file; a page with text not translated says so at its top."""
        if path.endswith(".md") and isinstance(content, str) and path != "SUMMARY.md":
            notice = self.language.untranslated_notice()
            if notice:
                head, sep, body = content.partition("\n# ")
                if sep:
                    title, _, rest = body.partition("\n")
                    content = "\n".join([head + sep + title, "", *notice, rest.lstrip("\n")])
            self.language.start_page()
        self._write(path, content)

    # -- the whole site -------------------------------------------------------------
    def generate(self, manual: list[tuple[str, str]] = ()) -> None:
        self.write("assets/portal/verdicts.css", palette.badge_css())
        self.home()
        for challenge in self.sources.challenges:
            self.challenge(challenge)
        # two audiences, two tabs: the public's challenges, the organisers' documentation
        summary = [f"- {t('Challenges')}", f"    - [{t('All challenges')}](index.md)", *self.nav]
        summary += [f"- {t('Documentation')}"] + [f"    - [{n}]({p})" for n, p in manual]
        self.write("SUMMARY.md", "\n".join(summary) + "\n")

    def challenge(self, c: ChallengeInfo) -> None:
        synthetic = " " + t("(synthetic data)") if c.card.meta.provenance == "synthetic" else ""
        nav = [
            f"    - {nav_label(c.title + synthetic)}",
            f"        - [{t('Overview')}]({c.id}/index.md)",
            f"        - [{t('Data card')}]({c.id}/data-card.md)",
            f"        - [{t('Versions')}]({c.id}/versions.md)",
            f"        - [{t('Download')}]({c.id}/download.md)",
        ]
        if c.teams:  # the teams under their leaderboard
            nav += [
                f"        - {t('Leaderboard and teams')}",
                f"            - [{t('Leaderboard')}]({c.id}/leaderboard.md)",
            ]
            nav += [
                f"            - [{t('Team: {name}', name=nav_label(team.team.algorithm.team))}]"
                f"({c.id}/teams/{team.team.id}.md)"
                for team in c.teams
            ]
        else:
            nav.append(f"        - [{t('Leaderboard')}]({c.id}/leaderboard.md)")
        nav.append(f"        - [{t('Cite')}]({c.id}/citation.md)")
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
