"""Saliency maps: |d score / d input| on each slab, smoothed, one .npz per exam."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from net import SlabNet, deterministic
from slab import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--release", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=12)
    args = parser.parse_args()
    deterministic(0)
    ids, _labels, images = load(args.release, args.split)
    net = SlabNet()
    net.load_state_dict(torch.load(args.model / "slabnet.pt", weights_only=True))
    net.eval()
    args.out.mkdir(parents=True, exist_ok=True)
    for exam, image in list(zip(ids, images, strict=True))[: args.limit]:
        x = torch.from_numpy(image[None]).requires_grad_(True)
        score = torch.sigmoid(net(x))[0]
        score.backward()
        saliency = ndimage.gaussian_filter(x.grad[0, 0].abs().numpy(), 1.0)
        saliency /= saliency.max() or 1.0
        np.savez_compressed(
            args.out / f"{exam}.npz",
            image=image[0],
            saliency=saliency.astype(np.float32),
            score=np.float32(score.item()),
        )
    print(f"{min(len(ids), args.limit)} saliency maps written to {args.out}")


if __name__ == "__main__":
    main()
