"""Shared fixtures: small synthetic exports generated once per test session."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from portal.synth.export import synthesize

SMALL_SHAPE = (32, 64, 64)  # slices, rows, columns: striata still resolved, 8x cheaper


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def cohort_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred exams at a reduced matrix: enough for class-balance and task checks."""
    out = tmp_path_factory.mktemp("export") / "datpark"
    synthesize("datpark", out, exams=240, seed=11, shape=SMALL_SHAPE)
    return out


@pytest.fixture(scope="session")
def full_size_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handful of exams at the default 128 x 128 x 64 matrix, from every centre it draws."""
    out = tmp_path_factory.mktemp("full") / "datpark"
    synthesize("datpark", out, exams=12, seed=5)
    return out
