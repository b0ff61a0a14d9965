"""The data card: statistics and figures from the latest release, split policy,
de-identification options, the Datasheet."""

from __future__ import annotations

import functools

from portal.site import figures, modality
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    count,
    page,
    split_order,
    table,
)
from portal.site.sources import ChallengeInfo, ReleaseInfo, Sources
from portal.site.untrusted import code, html_block, inline

#: The DICOM standard's table of de-identification codes (PS3.16, CID 7050).
CID_7050 = "https://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_7050.html"
#: What each code does to the files, in words.
DEID_WORDS = {
    "113100": "every element that could identify a patient (names, identifiers, addresses, "
    "UIDs, dates, free text, private elements) is removed or replaced",
    "113108": "kept: {characteristics}",
    "113107": "dates are shifted by one offset per patient, so intervals between a patient's "
    "exams are kept",
    "113105": "free-text descriptions keep only words of a medical vocabulary",
    "113109": "device identity (manufacturer, model, serial number) is kept",
    "113106": "dates and times are kept unchanged",
    "113101": "burned-in text is removed from the pixels",
}


def deid_section(deid) -> list[str]:
    """The de-identification options in words, each code linked to its definition."""
    characteristics = ", ".join(deid.retain_patient_characteristics) or t("none")
    rows = []
    for value, meaning in deid.codes():
        words = t(DEID_WORDS.get(value, "")).format(characteristics=characteristics)
        rows.append([f"[{value}]({CID_7050})", inline(meaning), words])
    allow = ", ".join(code(e) for e in deid.private_allowlist) or t("none")
    return [
        t("## De-identification"),
        "",
        t(
            "DICOM PS3.15 Annex E, the Basic Application Level Confidentiality Profile, with the "
            "options below (codes from DICOM PS3.16, CID 7050). An independent verifier checked "
            "every file before release; each version's `deid_report.json` lists what was done."
        ),
        "",
        table([t("DICOM code"), t("Option"), t("What it does")], rows),
        t(
            "Pseudonyms start with {prefix}; private elements kept: {allow}.",
            prefix=code(deid.pseudonym_prefix),
            allow=allow,
        ),
        "",
    ]


def tabular_deid_section(block: dict) -> list[str]:
    """A tabular card's re-identification policy in words (docs/tabular-export.md)."""
    quasi = ", ".join(code(q) for q in block.get("quasi_identifiers", [])) or t("the defaults")
    rows = [
        [t("Quasi-identifiers"), quasi],
        [t("k-anonymity: patients per class, at least"), inline(block.get("k", 5))],
        [
            t("l-diversity of {column}, at least", column=code(block.get("sensitive", "label"))),
            inline(block.get("l", 2)),
        ],
        [t("Share of records that may be suppressed"), inline(block.get("max_suppression", 0.05))],
    ]
    return [
        t("## De-identification"),
        "",
        t(
            "Direct identifiers removed, keyed pseudonyms for identifiers, one date shift per "
            "patient keeping every interval; quasi-identifiers generalised or suppressed until "
            "the thresholds below hold. An independent verifier, sharing no code with the "
            "de-identifier, searched every output cell for the export's identifying values and "
            "recomputed k and l before release."
        ),
        "",
        table([t("Policy"), t("Value")], rows),
        "",
    ]


class DataCardPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def data_card(self, c: ChallengeInfo) -> None:
        meta = c.card.meta
        out = [t("# Data card: {title}", title=inline(c.title)), ""]
        out += [
            t(
                "Source: {card} (the organiser's card, validated before every release), with "
                "statistics computed from the latest release.",
                card=f"`{c.card_path.relative_to(self.sources.root)}`",
            ),
            "",
        ]
        release = c.latest
        if release is not None:  # the modality's own statistics and figures
            out += modality.view_for(c).statistics(self, c, release)
        policies = []
        for split in split_order(meta.split_policy, meta.split_policy):
            policy = meta.split_policy[split]
            text = (
                t(policy)
                if isinstance(policy, str)
                else t("embargoed until {date}", date=policy.embargoed_until)
            )
            policies.append([f"`{split}`", text])
        out += [t("## Split policy"), "", table([t("Split"), t("Labels")], policies)]
        out += (
            tabular_deid_section(meta.deidentification.tabular)
            if meta.data_kind == "tabular"
            else deid_section(meta.deidentification)
        )
        out += [t("## Datasheet"), ""]
        for name, text in c.card.sections.items():
            out += [f"### {inline(t(name))}", "", html_block(text), ""]
        self.write(
            f"{c.id}/data-card.md",
            page(
                {
                    "title": t("Data card: {title}", title=c.title),
                    **self._jsonld(c, f"{c.id}/data-card.md"),
                },
                "\n".join(out),
                meta,
            ),
        )

    def _dicom_statistics(self, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        """The statistics and figures of a DICOM release (its ``metadata/*.csv`` and
        volumes): :class:`portal.site.modality.DicomView`."""
        flags = c.card.meta.schema.hard_case_fields()
        stats = figures.counts(release, [f.name for f in flags])
        labels = sorted({label for _, label in stats["split_label"]})
        splits = split_order(stats["split"], c.card.meta.split_policy)
        rows = [
            [code(s), count(stats["split"][s])]
            + [count(stats["split_label"][(s, label)]) for label in labels]
            + [count(stats[f.name][s]) for f in flags]
            for s in splits
        ]
        tables = ["metadata/splits.csv", "metadata/labels.csv", "metadata/clinical.csv"]
        sources = figures.source_files(release, *tables)
        cite = ", ".join(f"`{p}` (sha256 `{h[:12]}…`)" for p, h in sources)
        out = [
            t("## In numbers (release {version})", version=release.version),
            "",
            table(
                [t("Split"), t("Exams")]
                + [inline(t(label)) for label in labels]
                + [inline(t(f.shown(True).capitalize())) for f in flags],
                rows,
            ),
            t("From {sources}.", sources=cite),
            "",
        ]
        base = f"{c.id}/figures/{release.version}"
        plots = [
            (
                "class-balance.png",
                "Exams per split and label",
                functools.partial(figures.class_balance, order=list(c.card.meta.split_policy)),
            ),
            ("centres.png", "Exams per coded centre", figures.centres),
            ("age-sex.png", "Age by sex", figures.age_sex),
        ]
        for name, alt, draw in plots:  # their titles, axes and legends are in words
            self.write(
                f"{base}/{name}",
                self.drawing((release.path, name), functools.partial(draw, release)),
            )
            out += [f"![{t(alt)}](figures/{release.version}/{name})", ""]
        out.append(
            t(
                "*Figures drawn at build time from {tables}.*",
                tables=", ".join(f"`{name}`" for name in tables),
            )
        )
        out.append("")
        schema = c.card.meta.schema
        flags = [f.name for f in schema.hard_case_fields()]
        png, panels, shard = self.drawing(
            (release.path, "examples.png"),
            functools.partial(figures.example_slices, release, schema.splits, flags),
            words=False,
        )
        if png is not None:
            self.write(f"{base}/examples.png", png)
            described = "; ".join(
                t(
                    "{exam}, {label}, slice {number} of {slices}",
                    exam=exam,
                    label=inline(t(label)),
                    number=number,
                    slices=slices,
                )
                for exam, label, number, slices in panels
            )
            out += [
                t("## What an exam looks like"),
                "",
                f"![{t('Example transaxial slices')}: {described}]"
                f"(figures/{release.version}/examples.png)",
                "",
                t(
                    "*Left to right: {panels}. The slice of peak uptake of each exam, read "
                    "from {shard}.*",
                    panels=described,
                    shard=f"`data/{shard}`",
                )
                + "".join(
                    " " + t("*No exam marked {flag} is chosen.*", flag=inline(t(f.shown(True))))
                    for f in schema.hard_case_fields()
                )
                + (f" {inline(c.card.meta.reading_note)}" if c.card.meta.reading_note else ""),
                "",
            ]
        return out
