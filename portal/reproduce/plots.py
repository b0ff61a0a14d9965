"""Figures of a reproduction: ROC curve, confusion matrix, calibration curve, explanation
maps (saliency over an image, attributions over time) (PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

# Fixed metadata: the same figure gives the same bytes.
_PNG = {"metadata": {"Software": None}, "dpi": 110}


def roc(points: list[tuple[float, float]], auc: float, title: str, out: Path) -> Path:
    fpr, tpr = zip(*points, strict=True) if points else ((0.0, 1.0), (0.0, 1.0))
    figure, axes = plt.subplots(figsize=(4.2, 4.2))
    axes.plot([0, 1], [0, 1], color="0.75", lw=1, ls="--")
    axes.step(fpr, tpr, where="post", color="#3f51b5", lw=2, label=f"AUC {auc:.3f}")
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title=title, xlim=(0, 1), ylim=(0, 1))
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out, **_PNG)
    plt.close(figure)
    return out


def confusion(counts: dict, title: str, out: Path) -> Path:
    """The confusion matrix (``metrics.confusion``): rows the reference, columns the
    prediction, classes in the order of their numbers (two classes: the positive last)."""
    grid = np.array(counts["matrix"])
    names = counts["classes"]
    side = max(3.8, 1.1 * len(names) + 1.6)
    figure, axes = plt.subplots(figsize=(side + 0.4, side))
    axes.imshow(grid, cmap="Blues")
    for (i, j), value in np.ndenumerate(grid):
        colour = "white" if value > grid.max() / 2 else "black"
        axes.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=14)
    ticks = list(range(len(names)))
    axes.set_xticks(ticks, names, rotation=30 if len(names) > 2 else 0)
    axes.set_yticks(ticks, names)
    axes.set(xlabel="predicted", ylabel="reference label", title=title)
    figure.tight_layout()
    figure.savefig(out, **_PNG)
    plt.close(figure)
    return out


EXPLANATION_BYTES = 64 * 1024**2  # uncompressed, both arrays
EXPLANATION_SIDE = 4096


def read_explanation(npz: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``image`` and ``saliency`` arrays of a team's explanation file, checked first.

    The file comes from team code: it is read only if it is a zip of exactly those two
    ``.npy`` members whose uncompressed size is under the cap (no decompression bomb),
    without pickles, and holds two numeric 2-D arrays of one shape. ``ValueError`` says
    what is wrong otherwise.
    """
    arrays = _team_arrays(npz, ("image", "saliency"))
    image, weight = arrays["image"], arrays["saliency"]
    for name, array in (("image", image), ("saliency", weight)):
        if max(array.shape) > EXPLANATION_SIDE:
            raise ValueError(f"{name} of shape {array.shape} is larger than the cap")
    if image.shape != weight.shape:
        raise ValueError(f"image {image.shape} and saliency {weight.shape} differ in shape")
    return image, weight


def _team_arrays(
    npz: Path, required: tuple[str, str], optional: tuple[str, ...] = (), what: str = ""
) -> dict[str, np.ndarray | None]:
    """The arrays of a team's ``.npz``, read only if it is a zip of exactly the
    ``required`` members (and perhaps the ``optional`` ones), under the byte cap, without
    pickles; the required ones numeric, 2-D and not empty (``what`` says what their axes
    are, for the message). ``ValueError`` says what is wrong otherwise."""
    import zipfile

    try:
        with zipfile.ZipFile(npz) as archive:
            members = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"not an .npz archive ({error})") from None
    wanted = {f"{name}.npy" for name in required}
    if not wanted <= set(members) <= wanted | {f"{name}.npy" for name in optional}:
        expected = " and ".join(f"{name}.npy" for name in required)
        if optional:
            expected += f" (and optionally {', '.join(f'{n}.npy' for n in optional)})"
        raise ValueError(f"holds {sorted(members)}, expected {expected}")
    if sum(members.values()) > EXPLANATION_BYTES:
        raise ValueError(f"{sum(members.values()):,} bytes uncompressed, over the cap")
    try:
        with np.load(npz, allow_pickle=False) as data:
            arrays = {
                name: data[name] if f"{name}.npy" in members else None
                for name in (*required, *optional)
            }
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"unreadable arrays ({error})") from None
    for name in required:
        array = arrays[name]
        if not isinstance(array, np.ndarray):
            raise ValueError(f"unreadable arrays ({name}.npy is not in the .npy format)")
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            kind = f"{array.dtype} of shape {array.shape}"
            raise ValueError(f"{name} is {kind}, not a 2-D number array{what}")
        if array.size == 0:
            raise ValueError(f"{name} of shape {array.shape} is empty")
    return arrays


def saliency(image: np.ndarray, weight: np.ndarray, out: Path, caption: str) -> Path:
    """The team's input image and, beside it, the image with its saliency map laid over it,
    with a colour bar that says what the colours mean. Titles are set large because the
    site shows the figure at about half its width (a reader must still read them)."""
    figure, axes = plt.subplots(
        1, 2, figsize=(7.6, 3.9), gridspec_kw={"width_ratios": [1, 1.12]}, layout="constrained"
    )
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title("input", fontsize=15)
    axes[1].imshow(image, cmap="gray")
    overlay = axes[1].imshow(weight, cmap="inferno", alpha=0.55)  # inferno: colour-blind safe
    axes[1].set_title("saliency over the input", fontsize=15)
    for ax in axes:
        ax.axis("off")
    bar = figure.colorbar(overlay, ax=axes[1], fraction=0.05, pad=0.03)
    bar.set_label("saliency (team's scale)", fontsize=12)
    bar.ax.tick_params(labelsize=11)
    figure.suptitle(caption, fontsize=13)
    figure.savefig(out, **_PNG)
    plt.close(figure)
    return out


def calibration(points: list[dict], brier: float | None, title: str, out: Path) -> Path:
    """The reliability diagram (``metrics.calibration_curve``): each bin's mean predicted
    probability against the share of positives observed in it, with the diagonal of a
    perfectly calibrated model; the marker's area follows the bin's count."""
    figure, axes = plt.subplots(figsize=(4.2, 4.2))
    axes.plot([0, 1], [0, 1], color="0.75", lw=1, ls="--", label="perfectly calibrated")
    if points:
        x = [p["mean_predicted"] for p in points]
        y = [p["observed"] for p in points]
        sizes = [20 + 2 * p["n"] ** 0.5 * 4 for p in points]
        label = "bins of equal count" + (f" (Brier {brier:.3f})" if brier is not None else "")
        axes.plot(x, y, color="#3f51b5", lw=1.5)
        axes.scatter(x, y, s=sizes, color="#3f51b5", zorder=3, label=label)
    axes.set(
        xlabel="mean predicted probability",
        ylabel="observed share of positives",
        title=title,
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axes.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(out, **_PNG)
    plt.close(figure)
    return out


ATTRIBUTION_ROWS = 64  # channels
ATTRIBUTION_COLUMNS = 24 * 60  # minutes: a day of one sample a minute


def read_attributions(npz: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``signals`` and ``attribution`` arrays (channels x minutes) of a team's
    attributions-over-time file, checked first, as :func:`read_explanation` checks a
    saliency map: a zip of ``signals.npy``, ``attribution.npy`` and optionally a scalar
    ``score.npy``, under the byte cap, without pickles, two finite numeric 2-D arrays of
    one shape, at most :data:`ATTRIBUTION_ROWS` channels and a day of minutes."""
    arrays = _team_arrays(npz, ("signals", "attribution"), ("score",), what=" (channels x minutes)")
    signals, weight, score = arrays["signals"], arrays["attribution"], arrays["score"]
    for name, array in (("signals", signals), ("attribution", weight)):
        if array.shape[0] > ATTRIBUTION_ROWS or array.shape[1] > ATTRIBUTION_COLUMNS:
            raise ValueError(f"{name} of shape {array.shape} is larger than the cap")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} holds values that are not finite")
    if signals.shape != weight.shape:
        raise ValueError(f"signals {signals.shape} and attribution {weight.shape} differ in shape")
    if score is not None and (
        not isinstance(score, np.ndarray)
        or score.size != 1
        or not np.issubdtype(score.dtype, np.number)
    ):
        raise ValueError("score is not one number")
    return signals.astype(float), weight.astype(float)


def attributions(signals: np.ndarray, weight: np.ndarray, out: Path, caption: str) -> Path:
    """Attributions over time: above, the team's (standardised) input signals, one line
    per channel; below, the attribution of each channel at each minute on a diverging
    scale centred on zero (red raises the score, blue lowers it)."""
    channels, minutes = signals.shape
    figure, axes = plt.subplots(
        2,
        1,
        figsize=(7.6, 2.2 + 0.35 * channels),
        sharex=True,
        gridspec_kw={"height_ratios": [1, max(1, channels / 4)]},
        layout="constrained",
    )
    for row in range(channels):
        axes[0].plot(np.arange(minutes), signals[row], lw=0.8, label=f"channel {row + 1}")
    axes[0].set_ylabel("input (team's scale)", fontsize=10)
    axes[0].set_title("input signals", fontsize=13)
    bound = float(np.abs(weight).max()) or 1.0
    shown = axes[1].imshow(
        weight,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-bound,
        vmax=bound,
        interpolation="nearest",
        extent=(0, minutes, channels + 0.5, 0.5),
    )
    axes[1].set_yticks(range(1, channels + 1), [f"channel {r}" for r in range(1, channels + 1)])
    axes[1].set_xlabel("minutes from the start of the recording", fontsize=11)
    axes[1].set_title("attribution over time", fontsize=13)
    bar = figure.colorbar(shown, ax=axes[1], fraction=0.04, pad=0.02)
    bar.set_label("attribution (team's scale)", fontsize=10)
    figure.suptitle(caption, fontsize=13)
    figure.savefig(out, **_PNG)
    plt.close(figure)
    return out
