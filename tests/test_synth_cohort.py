"""The synthetic cohort: class balance, gray zone, splits and patients as the challenge had them."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from portal.synth.cohort import build_cohort
from tests.conftest import read_csv


def test_labels_gray_zone_and_confidence_within_stated_ranges(cohort_export):
    labels = read_csv(cohort_export / "labels.csv")
    n = len(labels)
    assert n == 240
    share_normal = sum(r["label"] == "normal" for r in labels) / n
    share_gray = sum(r["gray_zone"] == "true" for r in labels) / n
    assert 0.25 <= share_normal <= 0.42, share_normal  # about one third normal
    assert 0.13 <= share_gray <= 0.28, share_gray  # about 20 % gray zone
    assert {r["reader_confidence"] for r in labels} <= {"1", "2", "3", "4", "5"}
    gray_conf = [int(r["reader_confidence"]) for r in labels if r["gray_zone"] == "true"]
    clear_conf = [int(r["reader_confidence"]) for r in labels if r["gray_zone"] == "false"]
    assert sum(gray_conf) / len(gray_conf) < sum(clear_conf) / len(clear_conf) - 1
    disagreement = [r for r in labels if r["reader_agreement"] != "3"]
    assert disagreement, "readers never disagree: the gray zone is not grey"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_class_balance_holds_across_seeds(seed):
    exams = build_cohort(400, seed)
    share_normal = sum(e.label == "normal" for e in exams) / len(exams)
    share_gray = sum(e.gray_zone for e in exams) / len(exams)
    noisy = sum(e.label_flipped for e in exams) / len(exams)
    assert 0.28 <= share_normal <= 0.40
    assert 0.15 <= share_gray <= 0.27
    assert 0.01 <= noisy <= 0.15  # a small amount of label noise, not none


def test_splits_are_patient_level_and_near_60_20_20(cohort_export):
    splits = {r["exam_id"]: r["split"] for r in read_csv(cohort_export / "splits.csv")}
    labels = read_csv(cohort_export / "labels.csv")
    assert set(splits) == {r["exam_id"] for r in labels}
    per_patient = defaultdict(set)
    for row in labels:
        per_patient[row["patient_id"]].add(splits[row["exam_id"]])
    assert all(len(s) == 1 for s in per_patient.values()), "a patient sits in two splits"
    counts = Counter(splits.values())
    n = len(splits)
    assert abs(counts["train"] / n - 0.6) < 0.06
    assert abs(counts["public_test"] / n - 0.2) < 0.05
    assert abs(counts["private_test"] / n - 0.2) < 0.05


def test_splits_are_stratified_by_label_and_centre():
    exams = build_cohort(2000, 3)
    for key in ("label", "centre"):
        groups = defaultdict(Counter)
        for e in exams:
            group = e.label if key == "label" else e.centre.key
            groups[group][e.split] += 1
        for group, counts in groups.items():
            total = sum(counts.values())
            assert abs(counts["train"] / total - 0.6) < 0.07, (key, group, counts)


def test_some_patients_have_follow_up_exams(cohort_export):
    labels = read_csv(cohort_export / "labels.csv")
    per_patient = Counter(r["patient_id"] for r in labels)
    assert max(per_patient.values()) >= 2
    assert len(per_patient) < len(labels)
