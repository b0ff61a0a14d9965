"""Train gradient boosting on static and engineered signal features of the training split."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from features import feature_table

PARAMS = {
    "learning_rate": 0.04,
    "max_iter": 250,
    "max_leaf_nodes": 8,
    "min_samples_leaf": 20,
    "l2_regularization": 1.0,
    "early_stopping": False,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    _ids, labels, x, names = feature_table(args.release, "train")
    keep = [i for i, label in enumerate(labels) if label is not None]
    y = np.array([labels[i] for i in keep], dtype=int)
    # a column the release generalised away ("*" for every surgery) carries nothing
    used = [j for j in range(x.shape[1]) if len(np.unique(x[keep, j][np.isfinite(x[keep, j])])) > 1]
    names = [names[j] for j in used]
    x = x[:, used]
    model = HistGradientBoostingClassifier(random_state=args.seed, **PARAMS)
    model.fit(x[keep], y)
    threshold = float(np.quantile(model.predict_proba(x[keep])[:, 1], 1 - y.mean()))
    args.model.mkdir(parents=True, exist_ok=True)
    with (args.model / "gbm.pkl").open("wb") as handle:
        pickle.dump({"model": model, "features": names, "threshold": threshold}, handle)
    summary = {"surgeries": len(keep), "features": names, "threshold": threshold, **PARAMS}
    (args.model / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"trained on {len(keep)} surgeries x {len(names)} features")


if __name__ == "__main__":
    main()
