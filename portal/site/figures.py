"""Dataset figures for the data card page of a DICOM release (the DICOM view of
:mod:`portal.site.modality`: ``metadata/*.csv`` and the Parquet volumes), drawn from the
release's own files; and the reproduction figures the site redraws in a reader's language
(ROC curve, confusion matrix, calibration curve) from a run's ``record.json``. A tabular
release's figures are the tabular modality's own (:mod:`portal.tabular.figures`).

Each function returns PNG bytes and the release files it read, so the page can
say where every bar came from. Their titles, axis labels and legends are in the
language of the pages being written (:func:`portal.site.i18n.t`); the build draws
them once per language, and a figure without words once for all
(:meth:`portal.site.pages.SiteWriter.drawing`).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence

import numpy as np

from portal.site import palette
from portal.site.i18n import t
from portal.site.sources import ReleaseInfo

WITHHELD = "withheld"


def _colours(classes: list[str]) -> dict[str, str]:
    """The palette's colours for labels (a withheld label is grey)."""
    shown = [c for c in classes if c != WITHHELD]
    return {**palette.class_colours(shown), WITHHELD: palette.NEUTRAL}


def _ordered(splits, order) -> list[str]:
    known = [s for s in (order or ()) if s in splits]
    return known + sorted(s for s in splits if s not in known)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _figure(width: float = 6.4, height: float = 3.2, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height))


def joined(release: ReleaseInfo) -> list[dict[str, str]]:
    """One row per exam: splits, labels and clinical metadata joined on exam_id."""
    labels = {r["exam_id"]: r for r in release.tables.get("labels", [])}
    clinical = {r["exam_id"]: r for r in release.tables.get("clinical", [])}
    rows = []
    for split in release.tables.get("splits", []):
        exam = split["exam_id"]
        label = labels.get(exam, {})
        fields = {k: v for k, v in label.items() if k not in ("exam_id", "patient_id", "label")}
        rows.append(
            {
                **clinical.get(exam, {}),
                **fields,  # the card's label fields (hard-case flags, ...)
                **split,
                "label": label.get("label") or WITHHELD,
            }
        )
    return rows


def class_balance(release: ReleaseInfo, order=()) -> bytes:
    """Exams per split (in pipeline ``order``) and label."""
    rows = joined(release)
    splits = _ordered({r["split"] for r in rows}, order)
    classes = sorted({r["label"] for r in rows})
    colours = _colours(classes)
    fig, ax = _figure(6.4, 1.2 + 0.5 * len(splits))
    left = np.zeros(len(splits))
    for cls in classes:
        counts = np.array(
            [sum(r["split"] == s and r["label"] == cls for r in rows) for s in splits]
        )
        ax.barh(splits, counts, left=left, color=colours[cls], label=t(cls))
        ink = "white" if palette.contrast(colours[cls], "#ffffff") >= 4.5 else "black"
        for y, (x0, n) in enumerate(zip(left, counts, strict=True)):
            if n:
                ax.text(x0 + n / 2, y, str(n), ha="center", va="center", color=ink, fontsize=10)
        left += counts
    ax.set_xlabel(t("exams"))
    ax.set_ylabel(t("split"))
    ax.invert_yaxis()
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(t("Exams per split and label"))
    return _png(fig)


def centres(release: ReleaseInfo) -> bytes:
    rows = joined(release)
    names = sorted({r.get("centre", "") for r in rows})
    classes = sorted({r["label"] for r in rows})
    colours = _colours(classes)
    fig, ax = _figure()
    bottom = np.zeros(len(names))
    for cls in classes:
        counts = np.array(
            [sum(r.get("centre") == c and r["label"] == cls for r in rows) for c in names]
        )
        ax.bar(names, counts, bottom=bottom, color=colours[cls], label=t(cls))
        bottom += counts
    ax.set_ylabel(t("exams"))
    ax.set_xlabel(t("centre (coded)"))
    ax.set_title(t("Exams per centre (coded)"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.tick_params(axis="x", labelrotation=30)
    return _png(fig)


def age_sex(release: ReleaseInfo) -> bytes:
    rows = [r for r in joined(release) if r.get("age", "").isdigit()]
    fig, ax = _figure()
    bins = np.arange(30, 101, 5)
    sexes = sorted({r.get("sex", "") for r in rows})
    ages = [[int(r["age"]) for r in rows if r.get("sex") == s] for s in sexes]
    ax.hist(
        ages,
        bins=bins,
        color=palette.series(len(sexes)),
        label=[f"{s} (n={len(a)})" for s, a in zip(sexes, ages, strict=True)],
    )
    ax.set_xlabel(t("age at exam (years)"))
    ax.set_ylabel(t("exams"))
    ax.set_title(t("Age by sex"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def example_volumes(
    release: ReleaseInfo, splits: Sequence[str], flags: Sequence[str] = ()
) -> tuple[list[tuple[str, str, np.ndarray]], str | None]:
    """One exam per class from the first shard of the first split with labels, none of
    them marked by a hard-case flag (``flags``, the card's): (exam, label, volume)."""
    import pyarrow.parquet as pq

    shards = [
        shard
        for split in splits
        for shard in sorted((release.path / "data").glob(f"{split}-*.parquet"))
    ]
    if not shards:
        return [], None
    present = pq.read_schema(shards[0]).names
    flags = [f for f in flags if f in present]
    table = pq.read_table(shards[0], columns=["exam_id", "label", *flags, "volume"])
    picked, seen = [], set()
    for i in range(table.num_rows):
        label = table["label"][i].as_py()
        if label in seen or label is None or any(table[f][i].as_py() for f in flags):
            continue
        seen.add(label)
        slices = table["volume"][i].values  # slices -> rows -> voxels
        rows = slices.flatten()  # flatten(), not .values: it honours the slice's offsets
        flat = rows.flatten().to_numpy(zero_copy_only=False)
        depth, height = len(slices), len(rows) // len(slices)
        picked.append(
            (table["exam_id"][i].as_py(), label, flat.reshape(depth, height, -1).astype(float))
        )
    return sorted(picked, key=lambda p: p[1]), shards[0].name


def example_slices(
    release: ReleaseInfo, splits: Sequence[str], flags: Sequence[str] = ()
) -> tuple[bytes | None, list[tuple[str, str, int, int]], str | None]:
    """The transaxial slice of peak uptake of one exam per class (nuclear medicine and other
    volumes of one intensity channel), none marked by a hard-case flag (``flags``), left to
    right: (PNG, [(exam, label, slice number, slices)], shard). The image holds no word
    (each panel is titled with its exam's id), so one drawing serves every language; the
    page's caption says, in the reader's language, what each panel is."""
    examples, shard = example_volumes(release, splits, flags)
    if not examples:
        return None, [], None
    fig, axes = _figure(3.2 * len(examples), 3.4, ncols=len(examples))
    axes = np.atleast_1d(axes)
    panels = []
    for ax, (exam, label, volume) in zip(axes, examples, strict=True):
        index = int(np.argmax(volume.reshape(volume.shape[0], -1).max(axis=1)))
        image = volume[index]
        ys, xs = np.nonzero(image > 0.05 * image.max())
        if len(ys):  # crop to the head, with a margin
            image = image[max(0, ys.min() - 4) : ys.max() + 5, max(0, xs.min() - 4) : xs.max() + 5]
        ax.imshow(image, cmap="magma", interpolation="nearest")
        ax.set_title(exam, fontsize=11)
        ax.axis("off")
        panels.append((exam, label, index + 1, volume.shape[0]))
    return _png(fig), panels, shard


def counts(release: ReleaseInfo, flags: Sequence[str] = ()) -> dict[str, Counter]:
    """Exams per split x label, per split, and per split for each boolean flag of
    ``flags`` (the card's hard-case fields), from the metadata tables."""
    rows = joined(release)
    return {
        "split_label": Counter((r["split"], r["label"]) for r in rows),
        "split": Counter(r["split"] for r in rows),
        **{
            flag: Counter(r["split"] for r in rows if r.get(flag, "").lower() == "true")
            for flag in flags
        },
    }


def source_files(release: ReleaseInfo, *names: str) -> list[tuple[str, str]]:
    """(path, sha256) of release files, for a figure's caption."""
    wanted = set(names)
    return [(f.path, f.sha256) for f in release.manifest.files if f.path in wanted]


def roc_curve(points: list, auc: float | None, title: str) -> bytes:
    """A run's ROC curve, from its ``record.json`` (``scores.roc``), in the words of the
    pages being written: the reproduction draws it in English (MLflow ``figures/roc.png``),
    the site redraws it for a reader of another language with the same layout."""
    fpr, tpr = zip(*points, strict=True) if points else ((0.0, 1.0), (0.0, 1.0))
    fig, ax = _figure(4.2, 4.2)
    ax.plot([0, 1], [0, 1], color="0.75", lw=1, ls="--")  # the look of reproduce/plots.py
    shown = t("AUC {auc}", auc=f"{auc:.3f}" if auc is not None else "n/a")
    ax.step(fpr, tpr, where="post", color="#3f51b5", lw=2, label=shown)
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
    ax.set_xlabel(t("1 - specificity"))
    ax.set_ylabel(t("sensitivity"))
    ax.legend(loc="lower right")
    return _png(fig)


def calibration_points(data) -> list[tuple[float, float, int | None]]:
    """A record's calibration curve as (mean predicted probability, observed frequency,
    n) per bin: from a list of bins, each a dict (``mean_predicted``/``predicted``,
    ``observed``/``fraction_positive``, ``n``/``count``) or a [predicted, observed(, n)]
    pair; or a dict of such a list under ``bins``, or of two lists ``predicted`` and
    ``observed`` (and ``n``)."""
    if isinstance(data, dict):
        if "bins" in data:
            return calibration_points(data["bins"])
        predicted = data.get("mean_predicted") or data.get("predicted") or []
        observed = data.get("observed") or data.get("fraction_positive") or []
        n = data.get("n") or data.get("count") or [None] * len(predicted)
        return [
            (float(p), float(o), int(c) if c is not None else None)
            for p, o, c in zip(predicted, observed, n, strict=False)
            if p is not None and o is not None
        ]
    points = []
    for item in data or []:
        if isinstance(item, dict):
            p = next(
                (item[k] for k in ("mean_predicted", "predicted", "mean_score") if k in item), None
            )
            o = next(
                (item[k] for k in ("observed", "fraction_positive", "observed_rate") if k in item),
                None,
            )
            n = next((item[k] for k in ("n", "count") if k in item), None)
        else:
            p, o, n = [*list(item), None, None, None][:3]
        if p is None or o is None:
            continue
        points.append((float(p), float(o), int(n) if n is not None else None))
    return points


def calibration_curve(points, brier: float | None, title: str) -> bytes:
    """A run's calibration curve (reliability diagram) from its ``record.json``: the
    observed frequency of the positive class against the mean predicted probability per
    bin, the diagonal for a perfectly calibrated model; in the page's words."""
    fig, ax = _figure(4.2, 4.2)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label=t("perfectly calibrated"))
    if points:
        predicted, observed, _ = zip(*points, strict=True)
        shown = t("Brier score {brier}", brier=f"{brier:.3f}" if brier is not None else "n/a")
        ax.plot(predicted, observed, marker="o", color=palette.series(1)[0], lw=2, label=shown)
    ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
    ax.set_xlabel(t("mean predicted probability"))
    ax.set_ylabel(t("observed frequency"))
    ax.legend(loc="upper left", fontsize=9)
    return _png(fig)


def confusion_matrix(counts: dict, title: str, shown: dict[str, str]) -> bytes:
    """A run's confusion matrix, from its ``record.json`` (``scores.confusion``: the classes
    in the order of their numbers and the matrix, rows the reference), in the words of the
    pages being written (see :func:`roc_curve`); ``shown`` maps each class to those words.
    A record written before challenges had more than two classes holds the four binary
    counts instead; its two classes are ``shown``'s, negative first."""
    if "matrix" in counts:
        grid, names = np.array(counts["matrix"]), list(counts["classes"])
    else:
        grid = np.array(
            [
                [counts.get("true_negative", 0), counts.get("false_positive", 0)],
                [counts.get("false_negative", 0), counts.get("true_positive", 0)],
            ]
        )
        names = list(shown)[:2]
    side = max(3.8, 1.1 * len(names) + 1.6)  # the look of reproduce/plots.py
    fig, ax = _figure(side + 0.4, side)
    ax.imshow(grid, cmap="Blues")
    for (i, j), value in np.ndenumerate(grid):
        colour = "white" if value > grid.max() / 2 else "black"
        ax.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=14)
    ticks = list(range(len(names)))
    words = [shown.get(name, name) for name in names]
    ax.set_xticks(ticks, words, rotation=30 if len(names) > 2 else 0)
    ax.set_yticks(ticks, words)
    ax.set(xlabel=t("predicted"), ylabel=t("reference label"), title=title)
    return _png(fig)
