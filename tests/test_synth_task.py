"""The classification task is real: a classical SBR threshold works well, but not perfectly.

Two classical readings are checked: the vendor tool's putamen SBR from the
clinical table, and an SBR measured on the pixels themselves with a fixed
template ROI (posterior putamen, 8 mm spheres) placed relative to the head's
centre of mass. Both must separate the classes well, neither perfectly, and
the gray zone must be harder than the clear cases.
"""

from __future__ import annotations

import numpy as np
import pydicom

from tests.conftest import read_csv

POSTERIOR_PUTAMEN_MM = (26.0, 2.0, -1.0)  # |x| to the side, y to the back, z up, from centre
ROI_RADIUS_MM = 8.0


def best_balanced_accuracy(scores: np.ndarray, pathological: np.ndarray) -> float:
    """Balanced accuracy of the best threshold 'low SBR means pathological'."""
    best = 0.0
    for threshold in np.unique(scores):
        called = scores <= threshold
        sensitivity = (called & pathological).sum() / pathological.sum()
        specificity = (~called & ~pathological).sum() / (~pathological).sum()
        best = max(best, (sensitivity + specificity) / 2)
    return best


def template_putamen_sbr(ds: pydicom.Dataset) -> float:
    """Lower of the two posterior-putamen SBRs, measured on the image."""
    volume = ds.pixel_array.astype(np.float64)
    spacing, slice_mm = float(ds.PixelSpacing[0]), float(ds.SpacingBetweenSlices)
    reference = np.percentile(volume[volume > 0], 75)
    head = volume > 0.4 * reference
    background = np.median(volume[head])
    z, y, x = np.nonzero(head)
    weight = volume[head]
    cz, cy, cx = ((axis * weight).sum() / weight.sum() for axis in (z, y, x))
    zz, yy, xx = np.ogrid[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
    sbrs = []
    for side in (-1, 1):
        dx, dy, dz = (
            side * POSTERIOR_PUTAMEN_MM[0],
            POSTERIOR_PUTAMEN_MM[1],
            POSTERIOR_PUTAMEN_MM[2],
        )
        distance2 = (
            ((xx - cx) * spacing - dx) ** 2
            + ((yy - cy) * spacing - dy) ** 2
            + ((zz - cz) * slice_mm - dz) ** 2
        )
        sbrs.append(volume[distance2 < ROI_RADIUS_MM**2].mean() / background - 1)
    return min(sbrs)


def _arrays(export, score_of):
    labels = {r["exam_id"]: r for r in read_csv(export / "labels.csv")}
    scores, pathological, gray = [], [], []
    for exam_id, row in sorted(labels.items()):
        scores.append(score_of(exam_id))
        pathological.append(row["label"] == "pathological")
        gray.append(row["gray_zone"] == "true")
    return np.array(scores), np.array(pathological), np.array(gray)


def test_vendor_sbr_threshold_separates_well_but_not_perfectly(cohort_export):
    clinical = {r["exam_id"]: r for r in read_csv(cohort_export / "clinical.csv")}

    def lower_putamen(exam_id: str) -> float:
        row = clinical[exam_id]
        return min(float(row["sbr_putamen_left"]), float(row["sbr_putamen_right"]))

    scores, y, gray = _arrays(cohort_export, lower_putamen)
    overall = best_balanced_accuracy(scores, y)
    assert 0.80 <= overall <= 0.97, overall
    assert best_balanced_accuracy(scores[gray], y[gray]) < best_balanced_accuracy(
        scores[~gray], y[~gray]
    )


def test_image_sbr_threshold_separates_well_but_not_perfectly(cohort_export):
    def image_sbr(exam_id: str) -> float:
        (path,) = (cohort_export / "exams" / exam_id).glob("*.dcm")
        return template_putamen_sbr(pydicom.dcmread(path))

    scores, y, gray = _arrays(cohort_export, image_sbr)
    overall = best_balanced_accuracy(scores, y)
    assert 0.75 <= overall <= 0.97, overall
    clear = best_balanced_accuracy(scores[~gray], y[~gray])
    assert clear > best_balanced_accuracy(scores[gray], y[gray]) + 0.1
    assert clear >= 0.85
