"""Attributions over time: integrated gradients of the AKI score on each signal, per minute.

One .npz per surgery (the first ``--limit`` of the split), with two 2-D arrays of the same
shape (channels x minutes): ``signals``, the standardised input, and ``attribution``, the
integrated gradients from an all-missing baseline (20 steps), summed with the gradient of
the channel's observed mask so that a minute's attribution includes its being recorded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from net import CHANNELS, TCN, deterministic, load

STEPS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=12)
    args = parser.parse_args()
    deterministic(0)
    ids, _labels, x, static = load(args.release, args.split)
    net = TCN()
    net.load_state_dict(torch.load(args.model / "tcn.pt", weights_only=True))
    net.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    n = len(CHANNELS)
    for i, surgery in enumerate(ids[: args.limit]):
        inputs = torch.from_numpy(x[i : i + 1])
        s = torch.from_numpy(static[i : i + 1])
        total = torch.zeros_like(inputs)
        for step in range(1, STEPS + 1):
            scaled = (inputs * step / STEPS).requires_grad_(True)
            torch.sigmoid(net(scaled, s)).sum().backward()
            total += scaled.grad
        integrated = (inputs * total / STEPS)[0].numpy()
        attribution = integrated[:n] + integrated[n : 2 * n]
        with torch.no_grad():
            score = float(torch.sigmoid(net(inputs, s))[0])
        np.savez_compressed(
            args.out / f"{surgery}.npz",
            signals=x[i, :n].astype(np.float32),
            attribution=attribution.astype(np.float32),
            score=np.float32(score),
        )
    print(f"{min(len(ids), args.limit)} attribution maps written to {args.out}")


if __name__ == "__main__":
    main()
