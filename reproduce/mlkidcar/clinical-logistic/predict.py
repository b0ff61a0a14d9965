"""Write the probability of AKI for every surgery of a split."""

from __future__ import annotations

import argparse
import csv
import pickle
from pathlib import Path

import numpy as np

from data import split_rows
from score import akics_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with (args.model / "logistic.pkl").open("rb") as handle:
        saved = pickle.load(handle)
    rows, _labels = split_rows(args.release, args.split)
    x = np.array([[akics_score(row)] for row in rows])
    probability = saved["model"].predict_proba(x)[:, 1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["surgery_id", "score", "label"])
        for row, p in zip(rows, probability, strict=True):
            out.writerow([row["surgery_id"], f"{p:.6f}", "aki" if p >= saved["threshold"] else "no_aki"])


if __name__ == "__main__":
    main()
