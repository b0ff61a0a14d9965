"""Fit a logistic model of AKI on the AKICS score of the training split."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from data import split_rows
from score import akics_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    rows, labels = split_rows(args.release, "train")
    keep = [i for i, label in enumerate(labels) if label is not None]
    x = np.array([[akics_score(rows[i])] for i in keep])
    y = np.array([labels[i] for i in keep])
    model = LogisticRegression(C=1.0, random_state=args.seed).fit(x, y)
    threshold = float(np.quantile(model.predict_proba(x)[:, 1], 1 - y.mean()))
    args.model.mkdir(parents=True, exist_ok=True)
    with (args.model / "logistic.pkl").open("wb") as handle:
        pickle.dump({"model": model, "threshold": threshold}, handle)
    summary = {
        "surgeries": len(keep),
        "prevalence": float(y.mean()),
        "intercept": float(model.intercept_[0]),
        "per_point": float(model.coef_[0, 0]),
        "threshold": threshold,
    }
    (args.model / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"trained on {len(keep)} surgeries: logit = {summary['intercept']:.2f} + {summary['per_point']:.2f} x score")


if __name__ == "__main__":
    main()
