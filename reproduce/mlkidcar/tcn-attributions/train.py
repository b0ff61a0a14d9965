"""Train the temporal-convolution network on the training split's signals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from net import TCN, deterministic, load

EPOCHS = 20
BATCH = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    deterministic(args.seed)
    _ids, labels, x, static = load(args.release, "train")
    keep = np.array([i for i, label in enumerate(labels) if label is not None])
    y = torch.tensor([labels[i] for i in keep], dtype=torch.float32)
    x, static = torch.from_numpy(x[keep]), torch.from_numpy(static[keep])
    net = TCN()
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
    balance = float((1 - y.mean()) / y.mean())
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(balance))
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(EPOCHS):
        net.train()
        order = torch.randperm(len(y), generator=generator)
        total = 0.0
        for start in range(0, len(y), BATCH):
            batch = order[start : start + BATCH]
            optimiser.zero_grad()
            loss = loss_fn(net(x[batch], static[batch]), y[batch])
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1}: loss {total / len(y):.4f}")
    net.eval()
    with torch.no_grad():
        scores = torch.sigmoid(net(x, static)).numpy()
    threshold = float(np.quantile(scores, 1 - float(y.mean())))
    args.model.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), args.model / "tcn.pt")
    summary = {"surgeries": len(y), "epochs": EPOCHS, "threshold": threshold}
    (args.model / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
