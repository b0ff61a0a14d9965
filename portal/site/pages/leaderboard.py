"""Official vs reproduced scores, with the verdict of each team."""

from __future__ import annotations

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
                name = who(t, f"teams/{t.team.id}.md")
                if run is None:
                    rows.append(
                        [
                            str(t.official.rank if t.official else "–"),
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
                        str(t.official.rank if t.official else "–"),
                        name,
                        number(official),
                        f'<span class="reproduced-score">{number(reproduced)}</span> '
                        f"[{number(ci[0], 3)}, {number(ci[1], 3)}]",
                        badge(run.verdict),
                        {"True": "yes", "False": "**no**"}.get(
                            run.tags.get("deterministic"), "not checked"
                        ),
                        hardware_cell(run),
                        f"{count(round(run.metrics.get('wall_seconds', 0)))} s",
                        f"[run]({mlflow_link(self.site, run)})",
                    ]
                )
            out += [
                f"## Release {version}",
                "",
                table(
                    [
                        "Rank",
                        "Team and method (report)",
                        "Official",
                        "Reproduced [95 % CI]",
                        "Verdict",
                        "Same twice",
                        "Other kernels",
                        "Runtime (one run)",
                        "MLflow",
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
            verdict_legend(),
            "",
            "**Runtime (one run)**: the wall time of every step of the first run (MLflow metric "
            "`wall_seconds`); the report gives each run's time.",
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
            f"{c.id}/leaderboard.md",
            page(
                {"title": f"Leaderboard: {c.title}", "hide": ["toc"]}, "\n".join(out), c.card.meta
            ),
        )
