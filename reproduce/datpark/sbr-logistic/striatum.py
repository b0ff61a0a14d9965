"""Template-based striatal region analysis of a reconstructed DaT-SPECT volume.

The template is the one the team built during the challenge: per hemisphere,
a fixed-volume striatal VOI (the hottest 11 mL around the striatal centroid,
the typical adult striatal volume), split into caudate (front third) and
putamen (back two thirds, its back half the posterior putamen), and a
non-specific reference (the brain, 40 mm or more from the striatum).
Specific binding ratios are (VOI mean - reference) / reference.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

STRIATUM_ML = 5.5  # per hemisphere
BOX_MM = (36.0, 40.0, 70.0)  # half-extent of the search box: slices, rows, columns


def _voxel_ml(pixel_mm: float, slice_mm: float) -> float:
    return pixel_mm * pixel_mm * slice_mm / 1000.0


def ratios(volume: np.ndarray, pixel_mm: float, slice_mm: float) -> dict[str, float]:
    """SBRs of caudate, putamen, posterior putamen and striatum, per side."""
    v = ndimage.gaussian_filter(volume.astype(np.float32), 1.0)
    hot = v >= np.percentile(v, 99.7)
    centre = np.array(ndimage.center_of_mass(hot))
    spacing = np.array([slice_mm, pixel_mm, pixel_mm])
    grid = np.indices(v.shape, dtype=np.float32)
    offset_mm = [(grid[i] - centre[i]) * spacing[i] for i in range(3)]
    in_box = np.ones(v.shape, bool)
    for i in range(3):
        in_box &= np.abs(offset_mm[i]) <= BOX_MM[i]
    distance = np.sqrt(sum(o * o for o in offset_mm))
    brain = v > 0.25 * np.percentile(v, 99.9)
    far = brain & (distance >= 40.0)
    reference = float(np.mean(v[far])) if far.any() else float(np.mean(v[brain]))
    n_voxels = max(int(STRIATUM_ML / _voxel_ml(pixel_mm, slice_mm)), 8)
    out: dict[str, float] = {}
    for side, mask in (("right", offset_mm[2] < 0), ("left", offset_mm[2] >= 0)):
        region = in_box & mask
        values = v[region]
        rows = offset_mm[1][region]
        order = np.argsort(values)[::-1][:n_voxels]
        top, top_rows = values[order], rows[order]
        front, back = np.percentile(top_rows, [33.3, 66.7])
        caudate = top[top_rows <= front]
        putamen = top[top_rows > front]
        posterior = top[top_rows > back]
        for name, part in (
            ("caudate", caudate),
            ("putamen", putamen),
            ("posterior_putamen", posterior),
            ("striatum", top),
        ):
            out[f"{name}_{side}"] = float(part.mean()) / reference - 1.0
    return out
