"""What the site shows of a challenge's data, chosen by its modality (the data card's
``data_kind``), never by challenge.

A :class:`View` answers what differs between kinds of data: what one record is called
(an exam, a surgery), how many a release holds, the data card's statistics and figures
(drawn by the modality's own figure code), what a version's files hold (tables and
columns, the re-identification risk), and how to load it. The page modules call
:func:`view_for` and stay the same for every kind:

- ``dicom``: :class:`DicomView`, the release's ``metadata/*.csv`` and Parquet volumes,
  figures from :mod:`portal.site.figures` (example slices...);
- ``tabular``: :class:`TabularView`, the release's ``data/<table>/<split>.parquet`` and
  ``deid_report.json`` read through :mod:`portal.tabular.describe`, figures from
  :mod:`portal.tabular.figures` (class balance, missingness, example signals, and a
  team's attributions over time).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from portal.site import i18n
from portal.site.i18n import t
from portal.site.pages.common import count, number, table
from portal.site.sources import ChallengeInfo, ReleaseInfo
from portal.site.untrusted import code, inline

if TYPE_CHECKING:
    from portal.site.pages import SiteWriter


class View:
    """The DICOM and tabular views share this interface."""

    kind = ""
    #: what one record is, singular and plural, as a page's English text
    record, records_word = "record", "records"

    def records(self, release: ReleaseInfo) -> int:
        raise NotImplementedError

    def modality_label(self, meta) -> str:
        """The card's modality in words (the overview and the home page)."""
        return inline(t(meta.modality))

    def statistics(self, w: SiteWriter, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        """The data card's "In numbers" section and figures."""
        raise NotImplementedError

    def release_contents(self, w: SiteWriter, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        """What a version's files hold, on the download page (after its file list)."""
        return []

    def deidentification(self, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        """The measured de-identification of one version (versions page)."""
        return []

    def datasets_recipe(self, name: str) -> list[str]:
        return [
            "# after the curl or dvc get recipe and its `portal verify ... --expect`",
            "from datasets import load_dataset",
            "",
            f'ds = load_dataset("{name}")  # the verified folder',
            'print(ds["train"][0]["label"])',
        ]


class DicomView(View):
    kind = "dicom"
    record, records_word = "exam", "exams"

    def records(self, release: ReleaseInfo) -> int:
        return len(release.tables.get("splits", []))

    def modality_label(self, meta) -> str:
        from portal.site.pages.common import modality_label

        return modality_label(meta.modality)  # a DICOM modality code, in words

    def statistics(self, w: SiteWriter, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        return w._dicom_statistics(c, release)


def _class_words(c: ChallengeInfo) -> tuple[str, str]:
    """The card's two classes (negative, positive) in the page's words: the translated
    card's vocabulary, else the modality's English names of its classes."""
    from portal.tabular.describe import CLASS_WORDS

    schema = c.card.meta.schema
    positive = schema.positive_class or c.card.meta.task.classes[-1]
    negative = next((k for k in c.card.meta.task.classes if k != positive), "")

    def shown(key: str) -> str:
        if key in i18n.current().vocabulary:
            return t(key)
        return CLASS_WORDS.get(key, key)

    return shown(negative), shown(positive)


class TabularView(View):
    kind = "tabular"
    record, records_word = "surgery", "surgeries"

    def records(self, release: ReleaseInfo) -> int:
        from portal.tabular import describe

        return describe.records(release.path)

    def modality_label(self, meta) -> str:
        return t("Tables and minute-level time series")

    def statistics(self, w: SiteWriter, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        from portal.tabular import describe
        from portal.tabular import figures as tabular_figures

        counts = w.drawing(
            (release.path, "class-counts"),
            functools.partial(describe.class_counts, release.path),
            words=False,
        )
        negative, positive = _class_words(c)
        rows = []
        for split in [s for s in c.card.meta.split_policy if s in counts] + sorted(
            set(counts) - set(c.card.meta.split_policy)
        ):
            n = counts[split]
            known = n["positive"] + n["negative"]
            share = f"{number(100 * n['positive'] / known, 1)} %" if known else t("n/a")
            rows.append(
                [
                    code(split),
                    count(n["records"]),
                    count(n["negative"]),
                    count(n["positive"]),
                    count(n["withheld"]),
                    share,
                ]
            )
        sha = {f.path: f.sha256 for f in release.manifest.files}
        cite = ", ".join(
            f"`{n['file']}` (sha256 `{sha.get(n['file'], '?')[:12]}…`)" for n in counts.values()
        )
        out = [
            t("## In numbers (release {version})", version=release.version),
            "",
            table(
                [
                    t("Split"),
                    t("Surgeries"),
                    inline(negative),
                    inline(positive),
                    t("Label withheld"),
                    t("Share {positive}", positive=inline(positive)),
                ],
                rows,
            ),
            t("From {sources}.", sources=cite),
            "",
        ]
        base = f"{c.id}/figures/{release.version}"
        names = (negative, positive)
        plots = [
            (
                "class-balance.png",
                functools.partial(tabular_figures.class_balance, release.path, say=t, names=names),
            ),
            (
                "missingness.png",
                functools.partial(tabular_figures.missingness, release.path, say=t),
            ),
            (
                "example-signals.png",
                functools.partial(
                    tabular_figures.example_signals,
                    release.path,
                    split=next(iter(c.rules.training_splits), "train") if c.rules else "train",
                    say=t,
                    names=names,
                ),
            ),
        ]
        titles = {
            "class-balance.png": t("### Class balance"),
            "missingness.png": t("### Missing values"),
            "example-signals.png": t("### What a surgery's signals look like"),
        }
        for name, draw in plots:  # their titles, axes and legends are in words
            try:
                figure = w.drawing((release.path, name), draw)
            except ValueError:  # no labelled surgery in that split: nothing to draw
                continue
            w.write(f"{base}/{name}", figure.png)
            out += [
                titles[name],
                "",
                f"![{inline(figure.alt)}](figures/{release.version}/{name})",
                "",
                t(
                    "*Drawn at build time by the tabular modality's figure code from {files}.*",
                    files=", ".join(f"`{s}`" for s in figure.sources),
                ),
                "",
            ]
        return out

    def release_contents(self, w: SiteWriter, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        from portal.tabular import describe

        found = w.drawing(
            (release.path, "tables"),
            functools.partial(describe.tables, release.path),
            words=False,
        )
        if not found:
            return []
        splits = [s for s in c.card.meta.split_policy if any(s in tb.rows for tb in found)]
        out = [
            t("### Tables of {version}", version=release.version),
            "",
            t(
                "Each table is one Parquet file per split (`data/<table>/<split>.parquet`), "
                "loaded by `datasets` as one configuration per table; `data/splits.parquet` "
                "says which split each surgery is in."
            ),
            "",
            table(
                [t("Table"), t("What a row is")] + [code(s) for s in splits],
                [
                    [code(tb.name), inline(t(tb.description))]
                    + [count(tb.rows.get(s, 0)) for s in splits]
                    for tb in found
                ],
            ),
        ]
        for tb in found:
            out += [
                f'??? info "{t("Columns of {table}", table=tb.name)} ({len(tb.columns)})"',
                "",
                "    "
                + table(
                    [t("Column"), t("Type"), t("Unit"), t("What it holds")],
                    [
                        [
                            code(col.name),
                            code(col.dtype),
                            inline(col.unit) or "–",
                            inline(col.description),
                        ]
                        for col in tb.columns
                    ],
                ).replace("\n", "\n    "),
                "",
            ]
        return out

    def deidentification(self, c: ChallengeInfo, release: ReleaseInfo) -> list[str]:
        from portal.tabular import describe

        risk = describe.risk(release.path)
        if risk is None:
            return []
        ok_k = risk.k is not None and risk.k_required is not None and risk.k >= risk.k_required
        ok_l = risk.l is not None and risk.l_required is not None and risk.l >= risk.l_required
        rows = [
            [t("Quasi-identifiers"), ", ".join(code(q) for q in risk.quasi_identifiers)],
            [
                t("k-anonymity (distinct patients per class)"),
                t(
                    "{k} measured, {required} required",
                    k=inline(risk.k),
                    required=inline(risk.k_required),
                )
                + ("" if ok_k else " ⚠"),
            ],
            [
                t("l-diversity of {column}", column=code(risk.sensitive)),
                t(
                    "{l} measured, {required} required",
                    l=inline(risk.l),
                    required=inline(risk.l_required),
                )
                + ("" if ok_l else " ⚠"),
            ],
            [t("Equivalence classes"), inline(risk.classes)],
            [
                t("Suppressed"),
                t(
                    "{records} surgeries of {patients} patients (at most {share} % allowed)",
                    records=inline(risk.suppressed_records),
                    patients=inline(risk.suppressed_patients),
                    share=number(100 * (risk.max_suppression or 0), 1),
                ),
            ],
        ]
        if risk.age_top is not None:
            rows.append(
                [
                    t("Ages grouped"),
                    t(
                        "{top} and over, {n} surgeries",
                        top=inline(risk.age_top),
                        n=inline(risk.age_grouped),
                    ),
                ]
            )
        generalised = [[code(column), inline(what)] for column, what in risk.generalised.items()]
        removed = [[code(source), inline(what)] for source, what in risk.removed.items()]
        out = [
            t("### Re-identification risk of {version}", version=release.version),
            "",
            t(
                "Measured by the de-identifier on the released rows and recomputed by the "
                "independent verifier before release (`deid_report.json`, section `risk`)."
            ),
            "",
            table([t("Measure"), t("Value")], rows),
        ]
        if generalised:
            out += [
                t("What was generalised, per quasi-identifier (the report's words):"),
                "",
                table([t("Quasi-identifier"), t("Released as")], generalised),
            ]
        if removed:
            out += [
                t("What was removed from the export (the report's words):"),
                "",
                table([t("Source"), t("Removed")], removed),
            ]
        if risk.dates:
            out += [t("Dates: {how}", how=inline(risk.dates)), ""]
        return out

    def datasets_recipe(self, name: str) -> list[str]:
        from portal.tabular import describe

        return describe.datasets_recipe(name)


def draw_attributions(explanations: dict[str, bytes]):
    """The tabular modality's attributions-over-time figure from a run's explanation files
    (name -> bytes), in the page's words; None when they are not attributions over time
    (the figure code refuses them)."""
    import tempfile
    from pathlib import Path

    from portal.reproduce.plots import read_attributions
    from portal.site.untrusted import slug
    from portal.tabular import figures as tabular_figures

    with tempfile.TemporaryDirectory(prefix="portal-site-explain-") as tmp:
        for name, data in explanations.items():
            path = Path(tmp) / (slug(name.removesuffix(".npz")) + ".npz")
            path.write_bytes(data)
            try:  # team output: the reproduction's own checks (members, byte cap, shapes)
                read_attributions(path)
            except ValueError:
                path.unlink()
        try:
            return tabular_figures.attributions(Path(tmp), say=t)
        except Exception:  # whatever the team's arrays do: no figure, no crash
            return None


VIEWS = {"dicom": DicomView(), "tabular": TabularView()}


def view_for(c: ChallengeInfo) -> View:
    """The view of the challenge's kind of data (its card's ``data_kind``)."""
    return VIEWS[c.card.meta.data_kind]


def records_of(c: ChallengeInfo, release: ReleaseInfo | None) -> int:
    return view_for(c).records(release) if release is not None else 0
