"""A challenge's overview: the clinical question, phases, metric, size."""

from __future__ import annotations

from portal.site.pages.common import (
    Writer,
    count,
    facts,
    metric_label,
    modality_label,
    page,
    size,
    table,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import code, html_block, inline, link


class OverviewPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def overview(self, c: ChallengeInfo) -> None:
        meta = c.card.meta
        out = [f"# {inline(c.title)}", "", inline(meta.summary), ""]
        question = c.card.sections.get("Motivation", "").split("\n\n")[0]
        if question:
            out += ["## The clinical question", "", html_block(question), ""]
        classes = ", ".join(inline(k) for k in meta.task.classes)
        facts_rows = [
            ["Task", f"{meta.task.type}: {code(meta.task.target)} ({classes})"],
            ["Modality", modality_label(meta.modality)],
            ["Data", "synthetic (made by a program)" if meta.provenance == "synthetic" else "real"],
            ["Body part", inline(meta.body_part)],
            ["License", link(meta.license, meta.license_url)],
            ["Publisher", inline(meta.publisher)],
        ]
        if c.latest:
            facts_rows += [
                ["Latest version", f"[{c.latest.version}](versions.md) ({c.latest.date})"],
                ["Exams", count(len(c.latest.tables.get("splits", [])))],
                ["Size", f"{size(c.latest.total_bytes)} in {count(c.latest.file_count)} files"],
            ]
        out += ["## At a glance", "", facts(facts_rows)]
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
                f"The official metric is **{inline(metric_label(r.metric.official))}** on "
                f"{code(r.scoring_split)} (positive class: {inline(r.metric.positive_class)}); "
                "secondary: "
                f"{', '.join(inline(metric_label(m)) for m in r.metric.secondary) or 'none'}. "
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
            page(
                {"title": c.title, **self._jsonld(c, f"{c.id}/index.md")},
                "\n".join(out),
                c.card.meta,
            ),
        )
