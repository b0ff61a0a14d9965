"""The tabular modality's own figures, for the site's data card page and the book.

Drawn from a tabular release's files (``portal.tabular.release``: ``data/<table>/<split>.parquet``)
and, for the attributions, from a team's ``explain`` output (one ``.npz`` per surgery
with ``signals`` and ``attribution``, channels x minutes, as the TCN team writes them):

- :func:`class_balance`: surgeries per split, AKI and no AKI (a withheld label is grey);
- :func:`missingness`: the share of empty cells per column of the surgery table and per
  channel of the signals (a value generalised to ``*`` is not missing: the card says which
  quasi-identifiers were generalised);
- :func:`example_signals`: mean arterial pressure, heart rate and norepinephrine dose of
  a few surgeries of each class, over the minutes of surgery;
- :func:`attributions`: where in time and on which channel the score was sensitive,
  for a few surgeries, and the attribution summed over channels.

Each returns a :class:`Figure`: PNG bytes, the alternative text a page shows with it,
and the release files (or explanation files) it read, so a page can say where every
mark came from. PNGs are byte-stable (no time stamp or software tag in them).

The colours are Okabe and Ito's colour-blind-safe set, the same values as the site's
palette (``portal/site/palette.py``, ``OKABE_ITO`` and ``NEUTRAL``): copied here, since the
tabular modality (ingest rank) does not import the site.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# Okabe & Ito (2008), as in portal/site/palette.py
BLUE = "#0072B2"
ORANGE = "#E69F00"
VERMILLION = "#D55E00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
NEUTRAL = "#6b6b6b"
CLASS_COLOURS = {"no AKI": BLUE, "AKI": ORANGE, "withheld": NEUTRAL}
#: The words of a figure, in a reader's language: a page passes its translation function
#: (the site's ``t``); the default keeps the English text. The class names are the card's
#: (``task.classes``, negative first), passed in as shown to the reader.
Say = Callable[[str], str]


def _english(text: str) -> str:
    return text


def _named(names: tuple[str, str] | None) -> dict[str, str]:
    """The shown name of each class key of :data:`CLASS_COLOURS`."""
    negative, positive = names or ("no AKI", "AKI")
    return {"no AKI": negative, "AKI": positive, "withheld": "withheld"}


SPLIT_ORDER = ("train", "public_test", "private_test")
CHANNEL_NAMES = {
    "map_mmhg": "MAP (mmHg)",
    "hr_bpm": "heart rate (/min)",
    "spo2_pct": "SpO2 (%)",
    "temp_c": "temperature (°C)",
    "norepinephrine_ug_kg_min": "norepinephrine (µg/kg/min)",
    "cpb_flow_l_min": "bypass flow (L/min)",
}
EXAMPLE_CHANNELS = ("map_mmhg", "hr_bpm", "norepinephrine_ug_kg_min")


@dataclass(frozen=True)
class Figure:
    png: bytes
    alt: str
    sources: tuple[str, ...]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _splits(release: Path, table: str) -> list[str]:
    present = {p.stem for p in (Path(release) / "data" / table).glob("*.parquet")}
    return [s for s in SPLIT_ORDER if s in present] + sorted(present - set(SPLIT_ORDER))


def _file(release: Path, table: str, split: str) -> Path:
    return Path(release) / "data" / table / f"{split}.parquet"


def _relative(release: Path, path: Path) -> str:
    return path.relative_to(release).as_posix()


def class_balance(
    release: Path, *, say: Say = _english, names: tuple[str, str] | None = None
) -> Figure:
    """Surgeries per split and class, stacked, with the AKI share written on each bar.
    ``say`` translates the figure's words, ``names`` are the classes as shown."""
    release = Path(release)
    shown = _named(names)
    splits = _splits(release, "labels")
    if not splits:
        raise ValueError(f"{release}: no data/labels/*.parquet")
    counts = {}
    for split in splits:
        aki = pq.read_table(_file(release, "labels", split), columns=["aki"]).column("aki")
        values = aki.to_pylist()
        counts[split] = {
            "no AKI": sum(1 for v in values if v is False),
            "AKI": sum(1 for v in values if v is True),
            "withheld": sum(1 for v in values if v is None),
        }
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.5 * len(splits)))
    left = np.zeros(len(splits))
    for cls in ("no AKI", "AKI", "withheld"):
        widths = np.array([counts[s][cls] for s in splits])
        if widths.any():
            ax.barh(
                splits,
                widths,
                left=left,
                color=CLASS_COLOURS[cls],
                label=shown[cls] if cls != "withheld" else say(cls),
            )
        left += widths
    for i, split in enumerate(splits):
        known = counts[split]["AKI"] + counts[split]["no AKI"]
        share = (
            f"{shown['AKI']} {100 * counts[split]['AKI'] / known:.0f} %"
            if known
            else say("labels withheld")
        )
        ax.text(left[i], i, f"  {share}", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, left.max() * 1.3)
    ax.set_xlabel(say("surgeries"))
    ax.set_ylabel(say("split"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title(say("Class balance per split"))
    alt = "; ".join(
        f"{s}: {counts[s]['AKI']} {shown['AKI']}, {counts[s]['no AKI']} {shown['no AKI']}"
        + (f", {counts[s]['withheld']} {say('withheld')}" if counts[s]["withheld"] else "")
        for s in splits
    )
    sources = tuple(_relative(release, _file(release, "labels", s)) for s in splits)
    return Figure(_png(fig), say("Surgeries per split and class:") + f" {alt}.", sources)


def missingness(release: Path, *, say: Say = _english) -> Figure:
    """Share of empty cells per column: the surgery table, then each signal channel."""
    release = Path(release)
    sources = []
    missing: dict[str, list[int]] = {}
    for table, label in (("surgeries", ""), ("signals", say("signal:") + " ")):
        for split in _splits(release, table):
            path = _file(release, table, split)
            sources.append(_relative(release, path))
            data = pq.read_table(path)
            for name in data.column_names:
                if name in ("surgery_id", "patient_id", "minute"):
                    continue
                column = data.column(name)
                empty = column.null_count
                if pa.types.is_floating(column.type):
                    empty += int(pc.sum(pc.is_nan(column)).as_py() or 0)
                key = f"{label}{name}"
                counted = missing.setdefault(key, [0, 0])
                counted[0] += empty
                counted[1] += len(column)
    names = list(missing)
    shares = np.array([m[0] / m[1] if m[1] else 0.0 for m in missing.values()])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.22 * len(names)))
    signal = say("signal:") + " "
    colours = [SKY_BLUE if n.startswith(signal) else BLUE for n in names]
    ax.barh(names, shares * 100, color=colours)
    ax.invert_yaxis()
    ax.set_xlim(0, max(5.0, float(shares.max()) * 100 * 1.15))
    ax.set_xlabel(say("empty cells, %"))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title(say("Missing values per column (surgery table, then signals)"))
    worst = sorted(zip(names, shares, strict=True), key=lambda x: -x[1])[:3]
    alt = (
        say("Share of empty cells per column; highest:")
        + " "
        + ", ".join(f"{n} {100 * s:.1f} %" for n, s in worst)
        + "."
    )
    return Figure(_png(fig), alt, tuple(sources))


def example_signals(
    release: Path,
    *,
    per_class: int = 3,
    split: str = "train",
    say: Say = _english,
    names: tuple[str, str] | None = None,
) -> Figure:
    """MAP, heart rate and norepinephrine of the first ``per_class`` surgeries (by
    pseudonym) of each class of ``split``, over the minutes from the start of surgery."""
    release = Path(release)
    shown = _named(names)
    labels = pq.read_table(_file(release, "labels", split))
    ids = labels.column("surgery_id").to_pylist()
    aki = labels.column("aki").to_pylist()
    chosen = {
        "no AKI": [i for i, a in zip(ids, aki, strict=True) if a is False][:per_class],
        "AKI": [i for i, a in zip(ids, aki, strict=True) if a is True][:per_class],
    }
    wanted = [i for group in chosen.values() for i in group]
    if not wanted:
        raise ValueError(f"{release}: no labelled surgery in {split}")
    path = _file(release, "signals", split)
    signals = pq.read_table(path, columns=["surgery_id", "minute", *EXAMPLE_CHANNELS])
    signals = signals.filter(pc.is_in(signals.column("surgery_id"), value_set=_array(wanted)))
    plt = _plt()
    fig, axes = plt.subplots(len(EXAMPLE_CHANNELS), 1, figsize=(7.2, 5.4), sharex=True)
    by_id = signals.column("surgery_id").to_numpy(zero_copy_only=False)
    minutes = signals.column("minute").to_numpy()
    styles = ("-", "--", ":", "-.")
    for cls, group in chosen.items():
        for n, surgery in enumerate(group):
            rows = by_id == surgery
            for ax, channel in zip(axes, EXAMPLE_CHANNELS, strict=True):
                values = signals.column(channel).to_numpy(zero_copy_only=False)[rows]
                ax.plot(
                    minutes[rows],
                    values,
                    color=CLASS_COLOURS[cls],
                    linestyle=styles[n % len(styles)],
                    linewidth=0.8,
                    label=f"{shown[cls]}: {surgery}" if channel == EXAMPLE_CHANNELS[0] else None,
                )
    for ax, channel in zip(axes, EXAMPLE_CHANNELS, strict=True):
        # the unit on a line of its own: a long name (a French one) stays beside its axis
        ax.set_ylabel(say(CHANNEL_NAMES[channel]).replace(" (", "\n("), fontsize=8)
        if channel == "map_mmhg":
            ax.axhline(65, color=NEUTRAL, linewidth=0.6, linestyle=":")
            ax.set_ylim(0, 160)
    axes[0].legend(fontsize=7, ncol=1, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1].set_xlabel(say("minutes from the start of surgery"))
    fig.align_ylabels(axes)
    fig.suptitle(say("Example intra-operative signals per class") + f" ({split})")
    alt = say(
        "Mean arterial pressure, heart rate and norepinephrine over time for {positive} "
        "surgeries of class {positive_name} (orange) and {negative} of class {negative_name} "
        "(blue); the dotted line marks 65 mmHg."
    ).format(
        positive=len(chosen["AKI"]),
        positive_name=shown["AKI"],
        negative=len(chosen["no AKI"]),
        negative_name=shown["no AKI"],
    )
    return Figure(
        _png(fig),
        alt,
        (_relative(release, path), _relative(release, _file(release, "labels", split))),
    )


def _array(values):
    return pa.array(values, type=pa.string())


def _diverging():
    from matplotlib.colors import LinearSegmentedColormap

    return LinearSegmentedColormap.from_list("blue-white-vermillion", [BLUE, "#ffffff", VERMILLION])


def attributions(
    explanations: Path,
    *,
    limit: int = 4,
    channels=tuple(CHANNEL_NAMES),
    say: Say = _english,
) -> Figure:
    """Attributions over time from a team's ``explain`` output: for the first ``limit``
    surgeries (by file name), a channel x minute map (blue lowers the score, vermillion
    raises it) and the attribution summed over channels, over time."""
    explanations = Path(explanations)
    files = sorted(explanations.glob("*.npz"))[:limit]
    if not files:
        raise ValueError(f"{explanations}: no .npz attribution file")
    maps = []
    for path in files:
        with np.load(path, allow_pickle=False) as data:
            attribution = np.asarray(data["attribution"], dtype=np.float64)
            score = np.asarray(data["score"]) if "score" in data.files else None
        score = float(score.reshape(-1)[0]) if score is not None and score.size == 1 else None
        if attribution.ndim != 2 or attribution.shape[0] != len(channels):
            raise ValueError(
                f"{path}: attribution of shape {attribution.shape}, expected "
                f"({len(channels)}, minutes)"
            )
        maps.append((path.stem, attribution, score))
    plt = _plt()
    fig, axes = plt.subplots(
        len(maps),
        2,
        figsize=(9.6, 0.6 + 2.1 * len(maps)),
        squeeze=False,
        sharex="col",
        layout="constrained",
        gridspec_kw={"width_ratios": (3, 2)},
    )
    cmap = _diverging()
    for row, (name, attribution, score) in zip(axes, maps, strict=True):
        bound = float(np.abs(attribution).max()) or 1.0
        image = row[0].imshow(
            attribution, aspect="auto", cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest"
        )
        row[0].set_yticks(
            range(len(channels)),
            [say(CHANNEL_NAMES[c]).split(" (")[0] for c in channels],
            fontsize=7,
        )
        title = name if score is None else f"{name}, {say('score')} {score:.2f}"
        row[0].set_title(title, fontsize=8)
        fig.colorbar(image, ax=row[0], fraction=0.03, pad=0.01).ax.tick_params(labelsize=6)
        total = attribution.sum(axis=0)
        row[1].plot(np.arange(len(total)), total, color=BLUISH_GREEN, linewidth=0.8)
        row[1].axhline(0, color=NEUTRAL, linewidth=0.5)
        row[1].set_title(say("summed over channels"), fontsize=8)
        row[1].tick_params(labelsize=7)
    axes[-1][0].set_xlabel(say("minutes from the start of surgery"))
    axes[-1][1].set_xlabel(say("minutes from the start of surgery"))
    fig.suptitle(say("Attributions over time (integrated gradients)"))
    peaks = [
        f"{name}: {say('strongest on')} "
        f"{say(CHANNEL_NAMES[channels[int(np.abs(a).sum(axis=1).argmax())]])}"
        for name, a, _ in maps
    ]
    alt = (
        say(
            "Attribution maps over channels and minutes for {n} surgeries, blue lowering and "
            "vermillion raising the score of the positive class;"
        ).format(n=len(maps))
        + f" {'; '.join(peaks)}."
    )
    return Figure(_png(fig), alt, tuple(p.name for p in files))
