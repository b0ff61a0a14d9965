"""How to cite each version: the release's own BibTeX, CFF, DataCite and Croissant."""

from __future__ import annotations

from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    page,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import fenced, inline


class CitePage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def citation(self, c: ChallengeInfo) -> None:
        out = [
            t("# Cite {title}", title=inline(c.title)),
            "",
            t(
                "Cite the exact version you used: each one has its own content hash, and its "
                "files never change. The records below are the release's own files."
            ),
            "",
        ]
        for r in reversed(c.releases):
            out += [t("## Version {version}", version=r.version), ""]
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
                    "    " + t("[Download {name}]({path})", name=name, path=f"{r.version}/{name}"),
                    "",
                ]
            out += [
                t(
                    "Machine-readable description (Croissant 1.1, with responsible-AI fields): "
                    "{link}.",
                    link=f"[croissant.json]({r.version}/croissant.json)",
                ),
                "",
            ]
        self.write(
            f"{c.id}/citation.md",
            page(
                {
                    "title": t("Cite: {title}", title=c.title),
                    **self._jsonld(c, f"{c.id}/citation.md"),
                },
                "\n".join(out),
                c.card.meta,
            ),
        )
