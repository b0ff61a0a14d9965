"""The home page: what the portal is, and every challenge with its latest version."""

from __future__ import annotations

from portal.reproduce.verdict import Verdict
from portal.site import modality
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    count,
    page,
    provenance_admonition,
    table,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import inline


def reproduced_cell(c: ChallengeInfo) -> str:
    """How many winners reproduced, on the newest release that has runs (named), so a new
    release without runs yet does not read as "0 of 3"."""
    if not c.teams:
        return t("no teams")
    versions = [r.version for r in reversed(c.releases)]
    with_runs = [v for v in versions if any(k[1] == v for k in c.runs)]
    if not with_runs:
        return t("not yet run ({teams} teams)", teams=len(c.teams))
    version = with_runs[0]
    ok = sum(r.verdict == Verdict.REPRODUCED for (_, v), r in c.runs.items() if v == version)
    cell = t("{ok} of {teams} on {version}", ok=ok, teams=len(c.teams), version=version)
    if versions and versions[0] != version:
        cell += " " + t("({version}: not yet run)", version=versions[0])
    return cell


class HomePage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def home(self) -> None:
        rows = []
        notices = []
        for c in self.sources.challenges:
            latest = c.latest
            synthetic = c.card.meta.provenance == "synthetic"
            data = f"**{t('synthetic')}**" if synthetic else t("real")
            if synthetic:
                notice = provenance_admonition(c.card.meta)[2].strip()
                notices.append(f"- **{inline(c.title)}**: {notice}")
            rows.append(
                [
                    f"[{inline(c.title)}]({c.id}/index.md)",
                    data,
                    modality.view_for(c).modality_label(c.card.meta),
                    latest.version if latest else t("none yet"),
                    t(
                        "{n} " + modality.view_for(c).records_word,
                        n=count(modality.view_for(c).records(latest)) if latest else "0",
                    ),
                    reproduced_cell(c),
                ]
            )
        body = [
            f"# {inline(self.site.name)}",
            "",
            t(
                "Open data and re-run winning algorithms of health-data science challenges. "
                "Every dataset here was de-identified and verified before publication; every "
                "version is immutable and citable; every winning algorithm was run again, in "
                "its own pinned environment, on a pinned version of the data, and the result "
                "is shown beside the score the challenge announced."
            ),
            "",
            t("## Challenges"),
            "",
            table(
                [
                    t("Challenge"),
                    t("Data"),
                    t("Modality"),
                    t("Latest version"),
                    t("Records"),
                    t("Winners reproduced"),
                ],
                rows,
            ),
            t(
                "Counts come from each release's `metadata/splits.csv`; verdicts from the MLflow "
                "run of each team on the newest release that has runs."
            ),
            "",
        ]
        if notices:
            body += [f'!!! warning "{t("Synthetic data")}"', ""]
            body += [f"    {line}" for line in notices]
            body.append("")
        self.write("index.md", page({"title": t("Home")}, "\n".join(body)))
