"""The portal's own scoring of predictions: the team never scores itself.

Classification over the challenge's classes (its data card's ``task.classes``), as class
numbers: with two classes the positive class is 1 (``ChallengeSchema.index``) and a
prediction's score is its probability; with more, scores are one column per class.
Balanced accuracy (the mean recall over the classes present), ROC AUC (macro one-vs-rest
with more than two classes), balanced accuracy on the card's hard cases and on the others
(DaT-Park's gray zone), a confusion matrix and ROC curve points, a percentile bootstrap
95 % CI, and scores per subgroup. For two classes a challenge may also name, in its rules,
the average precision (AUPRC), the Brier score and a calibration curve (reliability
diagram, equal-count bins) of the probabilities. Plain NumPy, so the numbers on the site
can be recomputed by anyone from the predictions file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from portal.core.schema import CaseField

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray, _scores=None) -> float:
    """Mean recall over the classes present (two classes: the mean of sensitivity and
    specificity); nan when fewer than two classes are present."""
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    present = np.unique(truth)
    if len(present) < 2:
        return float("nan")
    if len(present) == 2 and set(present.tolist()) == {0, 1}:  # written as it always was
        positives, negatives = (truth == 1).sum(), (truth == 0).sum()
        sensitivity = ((predicted == 1) & (truth == 1)).sum() / positives
        specificity = ((predicted == 0) & (truth == 0)).sum() / negatives
        return float((sensitivity + specificity) / 2)
    return float(np.mean([(predicted[truth == c] == c).mean() for c in present]))


def _binary_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction); nan if one class."""
    positives, negatives = truth.sum(), (~truth).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[truth].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def roc_auc(truth: np.ndarray, _predicted, scores: np.ndarray) -> float:
    """Two classes: the AUC of the scores. More: the mean over the classes present of each
    class's one-vs-rest AUC, from its score column (nan without score columns)."""
    truth, scores = np.asarray(truth, np.int64), np.asarray(scores, float)
    if scores.ndim == 1:
        return _binary_auc(truth == 1, scores)
    present = np.unique(truth)
    if len(present) < 2 or scores.shape[1] == 0:
        return float("nan")
    return float(np.mean([_binary_auc(truth == c, scores[:, c]) for c in present]))


def confusion(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> dict:
    """Counts of (true class, predicted class): ``matrix[i][j]`` exams of ``classes[i]``
    predicted ``classes[j]``, in the order of the class numbers."""
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return {"classes": list(classes), "matrix": matrix.tolist()}


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) points, from the highest threshold down;
    none with more than two classes (one curve per class would not fit one figure)."""
    truth, scores = np.asarray(truth, np.int64) == 1, np.asarray(scores, float)
    if scores.ndim != 1:
        return []
    points = [(0.0, 0.0)]
    positives, negatives = max(truth.sum(), 1), max((~truth).sum(), 1)
    for threshold in np.unique(scores)[::-1]:
        called = scores >= threshold
        points.append(
            (float((called & ~truth).sum() / negatives), float((called & truth).sum() / positives))
        )
    if points[-1] != (1.0, 1.0):
        points.append((1.0, 1.0))
    return points


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    resamples: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def bootstrap(
    metric: Metric,
    truth,
    predicted,
    scores,
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """Percentile bootstrap CI of ``metric``; the same seed gives the same interval."""
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    scores = np.asarray(scores, float)
    rng = np.random.default_rng(seed)
    n = len(truth)
    values = []
    for _ in range(resamples):
        index = rng.integers(0, n, n)
        value = metric(truth[index], predicted[index], scores[index])
        if not np.isnan(value):
            values.append(value)
    estimate = metric(truth, predicted, scores)
    if not values:
        return Interval(estimate, float("nan"), float("nan"), 0)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), len(values))


def average_precision(truth: np.ndarray, _predicted, scores: np.ndarray) -> float:
    """Area under the precision-recall curve (AUPRC), step-wise: the sum over thresholds
    of the recall gained times the precision there, tied scores making one threshold;
    nan without a positive case. Two classes only (the positive class is 1)."""
    truth, scores = np.asarray(truth, np.int64) == 1, np.asarray(scores, float)
    positives = truth.sum()
    if positives == 0 or scores.ndim != 1:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    truth, scores = truth[order], scores[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # end of each tie group
    true_positives = np.cumsum(truth)[last]
    precision = true_positives / (last + 1)
    recall = true_positives / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def brier_score(truth: np.ndarray, _predicted, scores: np.ndarray) -> float:
    """Mean squared difference between the probability of the positive class and the
    outcome (0 or 1): 0 is perfect, 0.25 is a constant 0.5. Two classes only."""
    truth, scores = np.asarray(truth, np.int64) == 1, np.asarray(scores, float)
    if len(truth) == 0 or scores.ndim != 1:
        return float("nan")
    return float(np.mean((scores - truth) ** 2))


def calibration_curve(truth, scores, bins: int = 10) -> list[dict]:
    """The reliability diagram's points: the cases sorted by probability (ties in their
    order) and cut into ``bins`` groups of equal count (the first ones one larger when
    the count does not divide); per bin, the number of cases, the mean probability, the
    observed share of positives, and the bin's lowest and highest probability."""
    truth, scores = np.asarray(truth, np.int64) == 1, np.asarray(scores, float)
    if scores.ndim != 1 or len(scores) == 0:
        return []
    order = np.argsort(scores, kind="mergesort")
    points = []
    for part in np.array_split(order, min(bins, len(order))):
        points.append(
            {
                "n": len(part),
                "mean_predicted": float(scores[part].mean()),
                "observed": float(truth[part].mean()),
                "low": float(scores[part].min()),
                "high": float(scores[part].max()),
            }
        )
    return points


METRICS: dict[str, Metric] = {"balanced_accuracy": balanced_accuracy, "roc_auc": roc_auc}
#: Metrics of the probability of the positive class, computed when a challenge of two
#: classes names them (``metric.secondary`` of its rules).
BINARY_METRICS: dict[str, Metric] = {
    "average_precision": average_precision,
    "brier_score": brier_score,
}


@dataclass
class Scores:
    """Everything the portal computes from one predictions file."""

    official_metric: str
    official: Interval
    metrics: dict[str, float]
    subgroups: dict[str, dict[str, dict[str, float]]]
    confusion: dict
    roc: list[tuple[float, float]]
    n: int
    #: the reliability diagram's bins (:func:`calibration_curve`), when the rules ask for it
    calibration: list[dict] | None = None

    def to_dict(self) -> dict:
        data = {**asdict(self), "official": asdict(self.official)}
        if self.calibration is None:  # not asked for: not written (records stay as they were)
            del data["calibration"]
        return data


def hard_case_keys(field: CaseField) -> tuple[str, str]:
    """The metric names of one hard-case flag: on the cases flagged, on the others
    (``gray_zone_balanced_accuracy``, ``clear_balanced_accuracy``)."""
    other = re.sub(r"[^a-z0-9]+", "_", (field.shown_false or f"not {field.name}").lower())
    return f"{field.name}_balanced_accuracy", f"{other.strip('_')}_balanced_accuracy"


def score(
    truth: Sequence[int],
    predicted: Sequence[int],
    scores: Sequence[float] | np.ndarray,
    *,
    classes: Sequence[str],
    official_metric: str = "balanced_accuracy",
    groups: dict[str, Sequence[str]] | None = None,
    hard_cases: dict[tuple[str, str], Sequence[bool]] | None = None,
    resamples: int = 2000,
    seed: int = 0,
    extra: Sequence[str] = (),
    calibration_bins: int | None = None,
) -> Scores:
    """Score predictions: official metric with CI, all metrics, subgroups, plots' data.

    ``hard_cases`` maps the two metric names of a flag (:func:`hard_case_keys`) to which
    cases it marks: balanced accuracy is reported on them and on the others. ``extra``
    names metrics of :data:`BINARY_METRICS` computed too (overall and per subgroup);
    ``calibration_bins`` asks for the calibration curve with that many bins.
    """
    t, p = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    s = np.asarray(scores, float)
    if not (len(t) == len(p) == len(s)) or len(t) == 0:
        raise ValueError("truth, predictions and scores must be non-empty and of one length")
    computed = {**METRICS, **{name: BINARY_METRICS[name] for name in extra}}
    metrics = {name: fn(t, p, s) for name, fn in computed.items()}
    for (flagged, others), marks in (hard_cases or {}).items():
        g = np.asarray(marks, bool)
        metrics[flagged] = balanced_accuracy(t[g], p[g])
        metrics[others] = balanced_accuracy(t[~g], p[~g])
    subgroups: dict[str, dict[str, dict[str, float]]] = {}
    for name, values in (groups or {}).items():
        values = np.asarray(values)
        subgroups[name] = {}
        for value in sorted(set(values.tolist())):
            mask = values == value
            # the official metric's 95 % bootstrap interval in the group (NaN: one class only)
            ci = bootstrap(
                METRICS[official_metric], t[mask], p[mask], s[mask], resamples=1000, seed=seed
            )
            counts = np.bincount(t[mask], minlength=len(classes))
            subgroups[name][str(value)] = {
                "n": int(mask.sum()),
                **({"positives": int(counts[1])} if len(classes) == 2 else {}),
                "smallest_class": int(counts.min()),
                **{m: fn(t[mask], p[mask], s[mask]) for m, fn in computed.items()},
                "low": ci.low,
                "high": ci.high,
            }
    official = bootstrap(METRICS[official_metric], t, p, s, resamples=resamples, seed=seed)
    return Scores(
        official_metric,
        official,
        metrics,
        subgroups,
        confusion(t, p, classes),
        roc_curve(t, s),
        len(t),
        calibration_curve(t, s, calibration_bins) if calibration_bins else None,
    )


def age_band(age: float) -> str:
    """Decade bands for subgroup scores, open at both ends."""
    if age < 50:
        return "<50"
    if age >= 80:
        return "80+"
    low = int(age // 10 * 10)
    return f"{low}-{low + 9}"
