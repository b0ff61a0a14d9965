"""Official vs reproduced scores, with the verdict of each team."""

from __future__ import annotations

from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    badge,
    count,
    hardware_cell,
    mlflow_link,
    number,
    page,
    table,
    verdict_legend,
    who,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import inline


class LeaderboardPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

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
            t("# Leaderboard: {title}", title=inline(c.title)),
            "",
            t(
                "The official score is the one the challenge announced ({metric} on {split}); "
                "the reproduced score is the portal's own scoring of predictions made by the "
                "team's code, re-run in its pinned environment on the pinned release, with its "
                "95 % bootstrap interval.",
                metric=f"`{metric}`",
                split=f"`{split}`",
            ),
            "",
        ]
        for version in self._versions_with_runs(c):
            rows = []
            for team in c.teams:
                run = c.runs.get((team.team.id, version))
                official = team.official.private_score if team.official else None
                name = who(team, f"teams/{team.team.id}.md")
                if run is None:
                    rows.append(
                        [
                            str(team.official.rank if team.official else "–"),
                            name,
                            number(official),
                            "–",
                            badge(None),
                            "–",
                            "–",
                            "–",
                            "–",
                        ]
                    )
                    continue
                verdict = run.record.get("verdict", {})
                ci = verdict.get("ci") or [None, None]
                reproduced = run.metrics.get(metric)
                rows.append(
                    [
                        str(team.official.rank if team.official else "–"),
                        name,
                        number(official),
                        f'<span class="reproduced-score">{number(reproduced)}</span> '
                        f"[{number(ci[0], 3)}, {number(ci[1], 3)}]",
                        badge(run.verdict),
                        {"True": t("yes"), "False": f"**{t('no')}**"}.get(
                            run.tags.get("deterministic"), t("not checked")
                        ),
                        hardware_cell(run),
                        f"{count(round(run.metrics.get('wall_seconds', 0)))} s",
                        f"[{t('run')}]({mlflow_link(self.site, run)})",
                    ]
                )
            out += [
                t("## Release {version}", version=version),
                "",
                table(
                    [
                        t("Rank"),
                        t("Team and method (report)"),
                        t("Official"),
                        t("Reproduced [95 % CI]"),
                        t("Verdict"),
                        t("Same twice"),
                        t("Other kernels"),
                        t("Runtime (one run)"),
                        "MLflow",
                    ],
                    rows,
                ),
                t(
                    "Official scores: {board}. Reproduced scores: metric {metric} of each team's "
                    "latest finished run on release {version} in the MLflow experiment {exp}; "
                    "intervals from the run's `record.json` artifact. Tolerance: {tolerance}.",
                    board=f"`reproduce/{c.id}/leaderboard.csv`",
                    metric=f"`{metric}`",
                    version=version,
                    exp=f"`{c.id}`",
                    tolerance=rules.tolerance if rules else t("n/a"),
                ),
                "",
            ]
        out += [
            verdict_legend(),
            "",
            t(
                "**Runtime (one run)**: the wall time of every step of the first run (MLflow "
                "metric `wall_seconds`); the report gives each run's time."
            ),
            "",
            t(
                "**Other kernels.** Each team runs with portable numerics (the same bytes on any "
                "x86-64 machine) unless it opted out; its scoring steps are re-run with the other "
                "setting (the machine's native kernels, or the portable ones). *same bytes*: the "
                "predictions did not change. *sensitive*: they did, and the interval is the "
                "hardware-noise band of the official metric between the two."
            ),
            "",
            t(
                "Re-run any of them: {dvc} or {portal}.",
                dvc=f"`dvc repro reproduce@{c.id}-<version>-<team>`",
                portal=f"`portal reproduce {c.id} <team>`",
            ),
        ]
        self.write(
            f"{c.id}/leaderboard.md",
            page(
                {"title": t("Leaderboard: {title}", title=c.title), "hide": ["toc"]},
                "\n".join(out),
                c.card.meta,
            ),
        )
