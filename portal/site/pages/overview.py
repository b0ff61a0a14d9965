"""A challenge's overview: the clinical question, phases, metric, size."""

from __future__ import annotations

from portal.site import modality
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    count,
    facts,
    metric_label,
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
            out += [t("## The clinical question"), "", html_block(question), ""]
        classes = ", ".join(inline(k) for k in meta.task.classes)
        facts_rows = [
            [t("Task"), f"{t(meta.task.type)}: {code(meta.task.target)} ({classes})"],
            [t("Modality"), modality.view_for(c).modality_label(meta)],
            [
                t("Data"),
                t("synthetic (made by a program)") if meta.provenance == "synthetic" else t("real"),
            ],
            [t("Body part"), t(inline(meta.body_part))],
            [t("License"), link(meta.license, meta.license_url)],
            [t("Publisher"), inline(meta.publisher)],
        ]
        if c.latest:
            facts_rows += [
                [t("Latest version"), f"[{c.latest.version}](versions.md) ({c.latest.date})"],
                [
                    t(modality.view_for(c).records_word.capitalize()),
                    count(modality.view_for(c).records(c.latest)),
                ],
                [
                    t("Size"),
                    t(
                        "{size} in {files} files",
                        size=size(c.latest.total_bytes),
                        files=count(c.latest.file_count),
                    ),
                ],
            ]
        out += [t("## At a glance"), "", facts(facts_rows)]
        if c.rules:
            r = c.rules
            out += [t("## Phases"), ""]
            out.append(
                table(
                    [t("Phase"), t("From"), t("To"), t("Scored on"), t("What happened")],
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
            secondary = ", ".join(inline(metric_label(m)) for m in r.metric.secondary)
            out += [
                t("## Metric"),
                "",
                t(
                    "The official metric is **{metric}** on {split} (positive class: {positive}); "
                    "secondary: {secondary}. A re-run counts as *reproduced* when it lands within "
                    "**{tolerance}** of the official score; the 95 % bootstrap interval "
                    "({resamples} resamples) shows how much the score could move by chance "
                    "alone. Rules: {rules}.",
                    metric=inline(metric_label(r.metric.official)),
                    split=code(r.scoring_split),
                    positive=inline(
                        t(c.card.meta.schema.positive_class)
                        if c.card.meta.schema.positive_class
                        else t(
                            "none: one-vs-rest over {n} classes", n=len(c.card.meta.task.classes)
                        )
                    ),
                    secondary=secondary or t("none"),
                    tolerance=inline(r.tolerance),
                    resamples=inline(r.bootstrap.resamples),
                    rules=f"`reproduce/{c.id}/challenge.yaml`",
                ),
                "",
            ]
        out += [
            t("## Explore"),
            "",
            t("- [Data card](data-card.md): who made the data, how, what it contains, its limits."),
            t("- [Download](download.md): every version, with checksums and one-line commands."),
            t("- [Leaderboard](leaderboard.md): the winners, re-run; which scores reproduce."),
            t("- [Cite](citation.md): BibTeX, CFF, DataCite and Croissant for each version."),
        ]
        if self.book:
            out.append(
                t(
                    '- <a href="{book}">Reproduction book</a>: executable notes that load the '
                    "release and the MLflow runs and redraw the key figures (in English).",
                    book=f"{self.root_prefix}../book/{c.id}/index.html",
                )
            )
        else:
            out.append(
                t("- Reproduction book: not built this time (`portal site build` builds it).")
            )
        self.write(
            f"{c.id}/index.md",
            page(
                {"title": c.title, **self._jsonld(c, f"{c.id}/index.md")},
                "\n".join(out),
                c.card.meta,
            ),
        )
