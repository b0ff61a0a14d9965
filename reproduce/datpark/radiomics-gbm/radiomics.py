"""Hand-crafted radiomics of the striatum: shape, intensity, asymmetry and ratios.

Each hemisphere's striatum is segmented on the image itself: the connected
region above a fraction of the hemisphere's peak uptake, grown from the peak.
Features are computed at three thresholds (40, 50 and 60 % of the peak) and
normalised by a non-specific reference (the median of the brain), so that the
vendors' scalings and count levels cancel out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, stats

THRESHOLDS = (0.4, 0.5, 0.6)


def _segment(v: np.ndarray, side: np.ndarray, fraction: float) -> np.ndarray:
    peak_value = v[side].max()
    peak = np.unravel_index(np.argmax(np.where(side, v, -np.inf)), v.shape)
    mask = side & (v >= fraction * peak_value)
    labels, _ = ndimage.label(mask)
    return labels == labels[peak]


def _shape(mask: np.ndarray, spacing: np.ndarray) -> dict[str, float]:
    points = np.argwhere(mask) * spacing
    volume = len(points) * float(np.prod(spacing)) / 1000.0
    if len(points) < 4:
        return {"volume_ml": volume, "length_mm": 0.0, "elongation": 0.0}
    centred = points - points.mean(axis=0)
    eigen = np.sort(np.linalg.eigvalsh(np.cov(centred.T)))[::-1]
    length = 4.0 * np.sqrt(max(eigen[0], 0.0))
    return {
        "volume_ml": volume,
        "length_mm": float(length),
        "elongation": float(np.sqrt(max(eigen[1], 0.0) / max(eigen[0], 1e-9))),
    }


def features(volume: np.ndarray, pixel_mm: float, slice_mm: float) -> dict[str, float]:
    v = ndimage.gaussian_filter(volume.astype(np.float32), 0.8)
    spacing = np.array([slice_mm, pixel_mm, pixel_mm], dtype=np.float32)
    brain = v > 0.2 * np.percentile(v, 99.9)
    reference = float(np.median(v[brain])) or 1.0
    hot = v >= np.percentile(v, 99.7)
    midline = int(round(ndimage.center_of_mass(hot)[2]))
    columns = np.arange(v.shape[2])[None, None, :]
    sides = {"right": np.broadcast_to(columns < midline, v.shape),
             "left": np.broadcast_to(columns >= midline, v.shape)}
    out: dict[str, float] = {}
    for fraction in THRESHOLDS:
        tag = f"t{int(fraction * 100)}"
        per_side = {}
        for name, side in sides.items():
            mask = _segment(v, side, fraction)
            values = v[mask] / reference
            rows = np.argwhere(mask)[:, 1]
            front = rows <= np.percentile(rows, 33.3)
            back = rows >= np.percentile(rows, 66.7)
            f = {
                **_shape(mask, spacing),
                "mean": float(values.mean()),
                "p90": float(np.percentile(values, 90)),
                "std": float(values.std()),
                "skewness": float(stats.skew(values)) if len(values) > 2 else 0.0,
                "kurtosis": float(stats.kurtosis(values)) if len(values) > 3 else 0.0,
                "back_front_ratio": float(values[back].mean() / max(values[front].mean(), 1e-6)),
            }
            per_side[name] = f
            out.update({f"{tag}_{name}_{k}": val for k, val in f.items()})
        for k in per_side["right"]:
            r, left = per_side["right"][k], per_side["left"][k]
            out[f"{tag}_asymmetry_{k}"] = abs(r - left) / max(abs(r + left) / 2, 1e-6)
            out[f"{tag}_worst_{k}"] = min(r, left)
    return out
