"""Every version of a challenge with what changed from its parent."""

from __future__ import annotations

from portal.site import modality
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    count,
    page,
    size,
    table,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import code, html_block, inline


class VersionsPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def versions(self, c: ChallengeInfo) -> None:
        out = [
            t("# Versions of {title}", title=inline(c.title)),
            "",
            t(
                "Versions follow semantic versioning for data: MAJOR when labels or splits "
                "change, MINOR when records are added, PATCH for metadata only. A published "
                "version never changes. Each version's changes are computed from the data "
                "(`changes.json`)."
            ),
            "",
        ]
        rows = [
            [
                r.version,
                r.date,
                r.changes.get("parent") or t("none"),
                t(
                    "{n} " + modality.view_for(c).records_word,
                    n=count(modality.view_for(c).records(r)),
                ),
                size(r.total_bytes),
                f"`{r.content_hash.removeprefix('sha256:')[:16]}…`",
            ]
            for r in reversed(c.releases)
        ]
        out.append(
            table(
                [t("Version"), t("Date"), t("Parent"), t("Records"), t("Size"), t("Content hash")],
                rows,
            )
        )
        for r in reversed(c.releases):
            ch = r.changes
            out += [f"## {r.version}", "", t("Released {date}.", date=r.date), ""]
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
                        [t("Change from {parent}", parent=ch["parent"]), t("Count")],
                        [[t(label), count(len(ch.get(key, [])))] for label, key in kinds],
                    )
                )
                out.append(
                    t(
                        "Bump required by these changes: **{bump}**.",
                        bump=t(ch.get("required_bump") or "none"),
                    )
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
                    out += [f'??? note "{t(label)} ({len(items)})"', ""]
                    out += [f"    - {code(s)}" for s in shown]
                    if len(items) > 50:
                        out.append("    - " + t("… {n} more in changes.json", n=len(items) - 50))
                    out.append("")
            out += modality.view_for(c).deidentification(c, r)
            out += [
                t("Data:") + f" [changes.json]({r.version}/changes.json) · "
                f"[deid_report.json]({r.version}/deid_report.json) · "
                f"[manifest.json]({r.version}/manifest.json)",
                "",
            ]
        self.write(
            f"{c.id}/versions.md",
            page({"title": t("Versions: {title}", title=c.title)}, "\n".join(out), c.card.meta),
        )
