"""Write the probability of AKI for every surgery of a split."""

from __future__ import annotations

import argparse
import csv
import pickle
from pathlib import Path

from features import feature_table


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
    missing = [n for n in saved["features"] if n not in names]
    if missing:
        raise SystemExit(f"features of the trained model missing here: {missing}")
    x = x[:, [names.index(n) for n in saved["features"]]]
    probability = saved["model"].predict_proba(x)[:, 1]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["surgery_id", "score", "label"])
        for surgery, p in zip(ids, probability, strict=True):
            out.writerow([surgery, f"{p:.6f}", "aki" if p >= saved["threshold"] else "no_aki"])


if __name__ == "__main__":
    main()
