"""Train the slab CNN on the training split, with flips and shifts as augmentation."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from net import SlabNet, deterministic
from slab import load

EPOCHS = 30
BATCH = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    deterministic(args.seed)
    _ids, labels, images = load(args.release, "train")
    keep = [i for i, label in enumerate(labels) if label is not None]
    x = torch.from_numpy(images[keep])
    y = torch.tensor([labels[i] == "pathological" for i in keep], dtype=torch.float32)
    net = SlabNet()
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    weight = (len(y) - y.sum()) / y.sum()  # balance the classes
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), BATCH):
            index = order[start : start + BATCH]
            batch = x[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            shift = torch.randint(-3, 4, (2,), generator=generator).tolist()
            batch = torch.roll(batch, shifts=shift, dims=(-2, -1))
            optimiser.zero_grad()
            loss = loss_fn(net(batch), y[index])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(index)
        print(f"epoch {epoch + 1:2d}  loss {total / len(y):.4f}")
    net.eval()
    with torch.no_grad():
        fitted = torch.sigmoid(net(x)).numpy()
    threshold = balanced_threshold(fitted, y.numpy() > 0.5)
    args.model.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.model / "slabnet.pt")
    record = {"exams": len(y), "epochs": args.epochs, "seed": args.seed, "threshold": threshold}
    (args.model / "training.json").write_text(json.dumps(record, indent=2) + "\n")


def balanced_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """The cut-off on the training scores that best balances sensitivity and specificity."""
    candidates = np.unique(p)
    value = [((p[y] >= t).mean() + (p[~y] < t).mean()) / 2 for t in candidates]
    return float(candidates[int(np.argmax(value))])


if __name__ == "__main__":
    main()
