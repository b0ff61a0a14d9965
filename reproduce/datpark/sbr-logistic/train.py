"""Train: SBRs of every training exam, then the logistic model. Writes <model>/model.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from data import exams
from model import FEATURES, features, fit
from striatum import ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train")
    args = parser.parse_args()
    x, y = [], []
    for row, volume in exams(args.release, args.split):
        if row["label"] is None:
            continue
        sbr = ratios(volume, row["pixel_spacing_mm"], row["slice_thickness_mm"])
        x.append(features(sbr, row["age"]))
        y.append(1.0 if row["label"] == "pathological" else 0.0)
    model = fit(np.array(x), np.array(y))
    model["features"] = FEATURES
    model["trained_on"] = {"split": args.split, "exams": len(y), "seed": args.seed}
    args.model.mkdir(parents=True, exist_ok=True)
    (args.model / "model.json").write_text(json.dumps(model, indent=2) + "\n")
    print(f"trained on {len(y)} exams, threshold {model['threshold']:.4f}")


if __name__ == "__main__":
    main()
