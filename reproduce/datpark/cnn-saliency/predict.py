"""Score every exam of a split with the trained slab CNN."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import torch

from net import SlabNet, deterministic
from slab import load


def scores(model_dir: Path, images) -> torch.Tensor:
    net = SlabNet()
    net.load_state_dict(torch.load(model_dir / "slabnet.pt", weights_only=True))
    net.eval()
    with torch.no_grad():
        return torch.sigmoid(net(torch.from_numpy(images)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    deterministic(0)
    ids, _labels, images = load(args.release, args.split)
    probability = scores(args.model, images)
    threshold = json.loads((args.model / "training.json").read_text())["threshold"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        table = csv.writer(handle)
        table.writerow(["exam_id", "score", "label"])
        for exam, p in zip(ids, probability.tolist(), strict=True):
            table.writerow([exam, f"{p:.6f}", "pathological" if p >= threshold else "normal"])


if __name__ == "__main__":
    main()
