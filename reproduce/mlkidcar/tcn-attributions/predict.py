"""Write the probability of AKI for every surgery of a split."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from net import TCN, deterministic, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    deterministic(0)
    ids, _labels, x, static = load(args.release, args.split)
    net = TCN()
    net.load_state_dict(torch.load(args.model / "tcn.pt", weights_only=True))
    net.eval()
    threshold = json.loads((args.model / "summary.json").read_text())["threshold"]
    with torch.no_grad():
        scores = torch.sigmoid(net(torch.from_numpy(x), torch.from_numpy(static))).numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["surgery_id", "score", "label"])
        for surgery, p in zip(ids, scores, strict=True):
            out.writerow([surgery, f"{p:.6f}", "aki" if p >= threshold else "no_aki"])


if __name__ == "__main__":
    main()
