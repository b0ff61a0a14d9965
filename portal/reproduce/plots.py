"""Figures of a reproduction: ROC curve, confusion matrix, explanation maps (PNG)."""

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
    import zipfile

    try:
        with zipfile.ZipFile(npz) as archive:
            members = {info.filename: info.file_size for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"not an .npz archive ({error})") from None
    if set(members) != {"image.npy", "saliency.npy"}:
        raise ValueError(f"holds {sorted(members)}, expected image.npy and saliency.npy")
    if sum(members.values()) > EXPLANATION_BYTES:
        raise ValueError(f"{sum(members.values()):,} bytes uncompressed, over the cap")
    try:
        with np.load(npz, allow_pickle=False) as data:
            image, weight = data["image"], data["saliency"]
    except (ValueError, OSError, EOFError, KeyError) as error:
        raise ValueError(f"unreadable arrays ({error})") from None
    for name, array in (("image", image), ("saliency", weight)):
        if not isinstance(array, np.ndarray):
            raise ValueError(f"unreadable arrays ({name}.npy is not in the .npy format)")
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
            kind = f"{array.dtype} of shape {array.shape}"
            raise ValueError(f"{name} is {kind}, not a 2-D number array")
        if max(array.shape) > EXPLANATION_SIDE:
            raise ValueError(f"{name} of shape {array.shape} is larger than the cap")
    if image.shape != weight.shape:
        raise ValueError(f"image {image.shape} and saliency {weight.shape} differ in shape")
    return image, weight


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
