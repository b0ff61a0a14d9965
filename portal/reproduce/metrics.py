"""The portal's own scoring of predictions: the team never scores itself.

Binary classification with the challenge's positive class (``pathological``):
balanced accuracy (the DaT-Park official metric), ROC AUC from the scores,
gray-zone balanced accuracy, a confusion matrix and ROC curve points, a
percentile bootstrap 95 % CI, and scores per subgroup. Plain NumPy, so the
numbers on the site can be recomputed by anyone from the predictions file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray, _scores=None) -> float:
    """Mean of sensitivity and specificity; nan when a class is absent."""
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    positives, negatives = truth.sum(), (~truth).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    sensitivity = (predicted & truth).sum() / positives
    specificity = (~predicted & ~truth).sum() / negatives
    return float((sensitivity + specificity) / 2)


def roc_auc(truth: np.ndarray, _predicted, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction); nan if one class."""
    truth, scores = np.asarray(truth, bool), np.asarray(scores, float)
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


def confusion(truth: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    return {
        "true_positive": int((truth & predicted).sum()),
        "false_negative": int((truth & ~predicted).sum()),
        "false_positive": int((~truth & predicted).sum()),
        "true_negative": int((~truth & ~predicted).sum()),
    }


def roc_curve(truth: np.ndarray, scores: np.ndarray) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) points, from the highest threshold down."""
    truth, scores = np.asarray(truth, bool), np.asarray(scores, float)
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
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
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


METRICS: dict[str, Metric] = {"balanced_accuracy": balanced_accuracy, "roc_auc": roc_auc}


@dataclass
class Scores:
    """Everything the portal computes from one predictions file."""

    official_metric: str
    official: Interval
    metrics: dict[str, float]
    subgroups: dict[str, dict[str, dict[str, float]]]
    confusion: dict[str, int]
    roc: list[tuple[float, float]]
    n: int

    def to_dict(self) -> dict:
        return {**asdict(self), "official": asdict(self.official)}


def score(
    truth: Sequence[bool],
    predicted: Sequence[bool],
    scores: Sequence[float],
    *,
    official_metric: str = "balanced_accuracy",
    groups: dict[str, Sequence[str]] | None = None,
    gray_zone: Sequence[bool] | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Scores:
    """Score predictions: official metric with CI, all metrics, subgroups, plots' data."""
    t, p, s = np.asarray(truth, bool), np.asarray(predicted, bool), np.asarray(scores, float)
    if not (len(t) == len(p) == len(s)) or len(t) == 0:
        raise ValueError("truth, predictions and scores must be non-empty and of one length")
    metrics = {name: fn(t, p, s) for name, fn in METRICS.items()}
    if gray_zone is not None:
        g = np.asarray(gray_zone, bool)
        metrics["gray_zone_balanced_accuracy"] = balanced_accuracy(t[g], p[g])
        metrics["clear_balanced_accuracy"] = balanced_accuracy(t[~g], p[~g])
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
            subgroups[name][str(value)] = {
                "n": int(mask.sum()),
                "positives": int(t[mask].sum()),
                **{m: fn(t[mask], p[mask], s[mask]) for m, fn in METRICS.items()},
                "low": ci.low,
                "high": ci.high,
            }
    official = bootstrap(METRICS[official_metric], t, p, s, resamples=resamples, seed=seed)
    return Scores(
        official_metric, official, metrics, subgroups, confusion(t, p), roc_curve(t, s), len(t)
    )


def age_band(age: float) -> str:
    """Decade bands for subgroup scores, open at both ends."""
    if age < 50:
        return "<50"
    if age >= 80:
        return "80+"
    low = int(age // 10 * 10)
    return f"{low}-{low + 9}"
