"""Write the probability of a pathological scan for every exam of a split."""

from __future__ import annotations

import argparse
import csv
import pickle
from pathlib import Path

from common import feature_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with (args.model / "gbm.pkl").open("rb") as handle:
        saved = pickle.load(handle)
    ids, _labels, x, names = feature_table(args.release, args.split)
    if names != saved["features"]:
        raise SystemExit("feature names differ from the trained model's")
    probability = saved["model"].predict_proba(x)[:, 1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["exam_id", "score", "label"])
        for exam, p in zip(ids, probability, strict=True):
            out.writerow([exam, f"{p:.6f}", "pathological" if p >= saved["threshold"] else "normal"])


if __name__ == "__main__":
    main()
