"""Predict: one row per exam of the split, with the probability of a pathological scan."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from data import exams
from model import features, probability
from striatum import ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = json.loads((args.model / "model.json").read_text())
    ids, x = [], []
    for row, volume in exams(args.release, args.split):
        sbr = ratios(volume, row["pixel_spacing_mm"], row["slice_thickness_mm"])
        ids.append(row["exam_id"])
        x.append(features(sbr, row["age"]))
    p = probability(model, np.array(x))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["exam_id", "score", "label"])
        for exam, value in zip(ids, p, strict=True):
            label = "pathological" if value >= model["threshold"] else "normal"
            writer.writerow([exam, f"{value:.6f}", label])
    print(f"{len(ids)} predictions written to {args.out}")


if __name__ == "__main__":
    main()
