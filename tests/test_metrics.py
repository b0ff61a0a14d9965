"""Scores and verdicts: hand-checked values and the boundaries of each verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portal.errors import ConfigError
from portal.reproduce.metrics import (
    Interval,
    age_band,
    balanced_accuracy,
    bootstrap,
    roc_auc,
    score,
)
from portal.reproduce.rules import load_challenge
from portal.reproduce.verdict import Verdict, decide

ROOT = Path(__file__).resolve().parent.parent


def test_balanced_accuracy_by_hand():
    truth = [1, 1, 1, 1, 0, 0]
    predicted = [1, 1, 1, 0, 0, 1]
    assert balanced_accuracy(np.array(truth), np.array(predicted)) == pytest.approx(
        (3 / 4 + 1 / 2) / 2
    )
    assert np.isnan(balanced_accuracy(np.array([1, 1]), np.array([1, 0])))


def test_roc_auc_by_hand_with_ties():
    truth = np.array([1, 1, 0, 0])
    assert roc_auc(truth, None, np.array([0.9, 0.8, 0.3, 0.1])) == 1.0
    assert roc_auc(truth, None, np.array([0.1, 0.2, 0.8, 0.9])) == 0.0
    # one tie between a positive and a negative counts one half
    assert roc_auc(truth, None, np.array([0.9, 0.5, 0.5, 0.1])) == pytest.approx(0.875)


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    truth = rng.random(300) < 0.6
    scores = truth * 0.6 + rng.random(300) * 0.7
    predicted = scores > 0.65
    a = bootstrap(balanced_accuracy, truth, predicted, scores, resamples=500, seed=3)
    b = bootstrap(balanced_accuracy, truth, predicted, scores, resamples=500, seed=3)
    assert a == b and a.low < a.estimate < a.high and a.high - a.low < 0.2


def test_score_reports_subgroups_and_gray_zone():
    truth = np.array([1, 1, 0, 0, 1, 0, 1, 0])
    predicted = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    scores = np.array([0.9, 0.4, 0.2, 0.1, 0.8, 0.6, 0.7, 0.3])
    gray = np.array([0, 1, 0, 0, 0, 1, 0, 0], bool)
    result = score(
        truth,
        predicted,
        scores,
        classes=["normal", "pathological"],
        hard_cases={("gray_zone_balanced_accuracy", "clear_balanced_accuracy"): gray},
        resamples=200,
        groups={
            "centre": ["A", "A", "B", "B", "A", "B", "A", "B"],
            "age band": [age_band(a) for a in (45, 55, 67, 72, 81, 60, 66, 90)],
        },
    )
    assert result.metrics["balanced_accuracy"] == pytest.approx(0.75)
    assert result.metrics["gray_zone_balanced_accuracy"] == pytest.approx(0.0)
    assert result.metrics["clear_balanced_accuracy"] == pytest.approx(1.0)
    assert set(result.subgroups["centre"]) == {"A", "B"}
    assert result.subgroups["centre"]["A"]["n"] == 4
    assert set(result.subgroups["age band"]) == {"<50", "50-59", "60-69", "70-79", "80+"}
    assert result.confusion == {"classes": ["normal", "pathological"], "matrix": [[3, 1], [1, 3]]}
    assert result.roc[0] == (0.0, 0.0) and result.roc[-1] == (1.0, 1.0)


@pytest.mark.parametrize(
    ("estimate", "low", "high", "expected"),
    [
        (0.805, 0.75, 0.86, Verdict.REPRODUCED),  # within 0.01
        (0.790, 0.74, 0.84, Verdict.REPRODUCED),  # exactly at the tolerance
        (0.770, 0.71, 0.83, Verdict.WITHIN_NOISE),  # 0.03 off, official inside the CI
        (0.700, 0.66, 0.74, Verdict.NOT_REPRODUCED),  # official outside the CI
    ],
)
def test_verdict_boundaries(estimate, low, high, expected):
    record = decide(0.80, Interval(estimate, low, high, 1000), tolerance=0.01)
    assert record.verdict == expected and record.reason


def test_a_failure_is_failed_whatever_the_score():
    record = decide(0.8, Interval(0.8, 0.7, 0.9, 100), 0.01, failure="timeout after 600 s")
    assert record.verdict == Verdict.FAILED and "timeout" in record.reason
    assert decide(0.8, None, 0.01).verdict == Verdict.FAILED


def test_the_datpark_challenge_rules_are_valid(tmp_path):
    challenge = load_challenge(ROOT / "reproduce" / "datpark" / "challenge.yaml")
    assert challenge.metric.official == "balanced_accuracy"
    assert challenge.scoring_split == "private_test" and challenge.tolerance == 0.01
    bad = tmp_path / "challenge.yaml"
    text = (ROOT / "reproduce" / "datpark" / "challenge.yaml").read_text()
    bad.write_text(
        text.replace("training_splits: [train]", "training_splits: [private_test]").replace(
            "tolerance: 0.01", "tolerance: 0.5"
        )
    )
    with pytest.raises(ConfigError) as info:
        load_challenge(bad)
    assert len(info.value.problems) >= 1 and "tolerance" in str(info.value)


def test_three_classes_by_hand():
    """Balanced accuracy is the mean recall over the classes; ROC AUC the mean of the
    one-vs-rest AUCs, from one score column per class."""
    truth = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 0])
    assert balanced_accuracy(truth, predicted) == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    perfect = np.eye(3)[truth] * 0.8 + 0.1
    assert roc_auc(truth, predicted, perfect) == 1.0
    # class 2's column puts one of its two exams below the four others: of its 2 x 4
    # (positive, negative) pairs, 4 are won, so its AUC is 1/2
    scores = perfect.copy()
    scores[5, 2] = 0.05
    one_vs_rest = [1.0, 1.0, 4 / 8]
    assert roc_auc(truth, predicted, scores) == pytest.approx(np.mean(one_vs_rest))
    result = score(
        truth,
        predicted,
        scores,
        classes=["a", "b", "c"],
        resamples=100,
        groups={"site": ["x", "x", "x", "y", "y", "y"]},
    )
    assert result.confusion == {
        "classes": ["a", "b", "c"],
        "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 1]],
    }
    assert result.roc == []  # no single ROC curve for three classes
    assert result.subgroups["site"]["x"]["smallest_class"] == 0  # class c absent from x
    assert "positives" not in result.subgroups["site"]["x"]
