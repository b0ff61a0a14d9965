"""What every page kind shares: numbers, sizes, tables, badges, front matter."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path

import yaml

from portal.reproduce.verdict import NOT_RUN, verdict_slug
from portal.site import i18n, untrusted
from portal.site.i18n import t
from portal.site.sources import RunInfo, TeamInfo
from portal.site.untrusted import inline

GENERATOR = "portal.site"
RELEASE_COPIES = (
    "SHA256SUMS",
    "manifest.json",
    "changes.json",
    "citation.bib",
    "CITATION.cff",
    "datacite.json",
    "croissant.json",
    "deid_report.json",
)

Writer = Callable[[str, str | bytes], None]


def number(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return t("n/a")
    return i18n.n(f"{value:.{digits}f}")


#: Decimal byte units as each language writes them (French: octet, ko, Mo, Go, To).
SIZE_UNITS = {"en": ("B", "kB", "MB", "GB", "TB"), "fr": ("o", "ko", "Mo", "Go", "To")}


def size(n: int) -> str:
    """``89584743`` -> ``89.6 MB`` (``89,6 Mo`` on a French page)."""
    units = SIZE_UNITS.get(i18n.current().code, SIZE_UNITS["en"])
    for i, unit in enumerate(units):
        if n < 1000 or i == len(units) - 1:
            return i18n.n(f"{n:.0f}" if i == 0 else f"{n:.1f}") + f" {unit}"
        n /= 1000
    raise AssertionError


def badge(verdict: str | None) -> str:
    """The verdict as shown, with the class of the one vocabulary (``within noise`` ->
    ``verdict-within-noise``, no run -> ``verdict-not-yet-run``); the colours are
    :data:`portal.site.palette.VERDICT_COLOURS`."""
    shown = NOT_RUN if verdict is None else str(verdict)
    if verdict_slug(verdict) != "unknown":
        shown = t(shown)  # the vocabulary's own words, translated
    return f'<span class="verdict verdict-{verdict_slug(verdict)}">{inline(shown)}</span>'


def verdict_legend() -> str:
    """Every badge the site draws, each with what it means (leaderboards and reports)."""
    from portal.reproduce.verdict import Verdict

    return (
        f'<p class="portal-legend"><strong>{t("Verdicts.")}</strong> '
        + " ".join(f"{badge(v)} {t(v.meaning)}." for v in Verdict)
        + f" {badge(None)} {t('no finished run on this release yet.')}</p>"
    )


def page(meta: dict, body: str, card=None) -> str:
    """A generated page; its ``title`` is escaped here (the theme prints titles raw). With
    the ``card`` of a synthetic dataset, its notice comes right under the page's heading."""
    meta = {**meta, "title": untrusted.title(meta["title"])}
    front = yaml.safe_dump({**meta, "generator": GENERATOR}, sort_keys=False, allow_unicode=True)
    notice = provenance_admonition(card) if card is not None else []
    if notice:
        heading, _, rest = body.partition("\n")
        body = "\n".join([heading, "", *notice, rest.lstrip("\n")])
    return f"---\n{front}---\n\n{body.rstrip()}\n"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def nav_label(text: str) -> str:
    """A navigation entry: literate-nav reads Markdown link text, so no brackets, no HTML."""
    return html.escape(text.replace("[", "(").replace("]", ")"), quote=False)


def mlflow_link(site, run: RunInfo) -> str:
    return f"{site.mlflow_ui}#/experiments/{run.experiment_id}/runs/{run.run_id}"


def who(info: TeamInfo, report: str | None = None) -> str:
    """The team's name (a link to its report when given) and its method."""
    name = inline(info.team.algorithm.team)
    if report:
        name = f"[{name}]({report})"
    return f"**{name}**<br>{inline(info.team.algorithm.title)}"


def hardware_cell(run: RunInfo) -> str:
    """The hardware check of a run, for the leaderboard: from its MLflow tags and metrics."""
    sensitive = run.tags.get("hardware.sensitive")
    if sensitive == "False":
        return t("same bytes")
    if sensitive != "True":
        return t("not checked")
    low, high = run.metrics.get("hardware_band_low"), run.metrics.get("hardware_band_high")
    return f"**{t('sensitive')}** [{number(low, 3)}, {number(high, 3)}]"


def directory_writer(root: Path) -> Writer:
    """A writer into a plain folder (tests, benchmarks, and debugging the pages)."""

    def write(path: str, content: str | bytes) -> None:
        target = Path(root) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")

    return write


def count(n: int) -> str:
    """A whole number with thousands separators: 1,234,567 (1 234 567 in French)."""
    return i18n.n(f"{int(n):,}")


#: How the site names a metric (the MLflow and record keys stay as they are).
METRIC_LABELS = {
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "average_precision": "AUPRC (average precision)",
    "brier_score": "Brier score",
}


def metric_label(key: str) -> str:
    """``roc_auc`` -> ``ROC AUC``; ``<group>_balanced_accuracy`` (a metric on the cases of
    one value of a card's flag, e.g. ``gray_zone``) -> ``Balanced accuracy, gray zone``;
    an unknown key becomes words with a capital."""
    key = str(key)
    if key in METRIC_LABELS:
        return t(METRIC_LABELS[key])
    for base, label in METRIC_LABELS.items():
        if key.endswith(f"_{base}"):
            group = key.removesuffix(f"_{base}").replace("_", " ")
            return t("{metric}, {group}", metric=t(label), group=t(group))
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


#: DICOM modality codes (PS3.3 C.7.3.1.1.1) a reader may meet, in words.
MODALITIES = {
    "NM": "nuclear medicine",
    "PT": "positron emission tomography",
    "CT": "computed tomography",
    "MR": "magnetic resonance",
    "CR": "computed radiography",
    "DX": "digital radiography",
    "MG": "mammography",
    "US": "ultrasound",
    "XC": "external-camera photography",
    "SM": "slide microscopy",
    "OT": "other",
}


def modality_label(code_: str) -> str:
    """``NM`` -> ``Nuclear medicine (DICOM modality NM)``."""
    words = MODALITIES.get(str(code_).upper())
    if words is None:
        return inline(code_)
    words = t(words)
    return t(
        "{words} (DICOM modality {code})", words=words[:1].upper() + words[1:], code=inline(code_)
    )


def facts(rows: list[list[str]]) -> str:
    """A two-column table of facts, with a real header (no empty header row)."""
    return table([t("About"), t("Value")], rows)


def split_order(splits, policy_order) -> list[str]:
    """Splits in pipeline order: the order of the card's ``split_policy`` (train, then the
    test splits), then any other split by name."""
    known = [s for s in policy_order if s in splits]
    return known + sorted(s for s in splits if s not in known)


def group_order(groups) -> list[str]:
    """Subgroup names in reading order: age bands by their lower bound (``<50`` first,
    ``80+`` last), anything else by name."""
    import re

    def key(name: str):
        text = str(name)
        match = re.match(r"^\s*(<|≤)?\s*(\d+)", text)
        if match:
            return (0, float(match.group(2)) - (0.5 if match.group(1) else 0), text)
        return (1, 0.0, text)

    return sorted(groups, key=key)


def provenance_admonition(card) -> list[str]:
    """The synthetic-data notice at the top of every page of a synthetic challenge."""
    if card.provenance != "synthetic":
        return []
    notice = t(
        "Synthetic data: every record, label and clinical value of this dataset was "
        "generated by a program; none comes from a patient."
    )
    if card.provenance_note:
        notice += " " + card.provenance_note.strip()
    return [f'!!! warning "{t("Synthetic data")}"', "", f"    {inline(notice)}", ""]
