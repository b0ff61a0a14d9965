"""The network's input: a 2-D striatal slab, cropped, resampled and normalised.

Clinicians read DaT-SPECT on a few transaxial slices through the striatum;
this mimics that. The slab is the mean of the slices within 6 mm of the
striatal peak, resampled to 2 mm pixels, cropped to 64 x 64 pixels (128 mm)
around the striatum and divided by the brain's median uptake.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import ndimage

SIZE = 64
PIXEL_MM = 2.0
HALF_SLAB_MM = 6.0


def slab(volume: np.ndarray, pixel_mm: float, slice_mm: float) -> np.ndarray:
    v = ndimage.gaussian_filter(volume.astype(np.float32), 0.7)
    brain = v > 0.2 * np.percentile(v, 99.9)
    reference = float(np.median(v[brain])) or 1.0
    hot = v >= np.percentile(v, 99.7)
    z, y, x = ndimage.center_of_mass(hot)
    half = max(int(round(HALF_SLAB_MM / slice_mm)), 1)
    lo, hi = max(int(round(z)) - half, 0), min(int(round(z)) + half + 1, v.shape[0])
    image = v[lo:hi].mean(axis=0) / reference
    zoom = pixel_mm / PIXEL_MM
    image = ndimage.zoom(image, zoom, order=1)
    cy, cx = y * zoom, x * zoom
    top, left = int(round(cy)) - SIZE // 2, int(round(cx)) - SIZE // 2
    padded = np.pad(image, SIZE, mode="constant")
    return padded[top + SIZE : top + 2 * SIZE, left + SIZE : left + 2 * SIZE].astype(np.float32)


def load(release: Path, split: str) -> tuple[list[str], list[str | None], np.ndarray]:
    """(exam ids, labels, slabs of shape (n, 1, 64, 64)) of a split."""
    ids: list[str] = []
    labels: list[str | None] = []
    images: list[np.ndarray] = []
    shards = sorted((Path(release) / "data").glob(f"{split}-*.parquet"))
    if not shards:
        raise SystemExit(f"{release}/data holds no {split} shard")
    for path in shards:
        table = pq.read_table(path)
        vol = table.column("volume").combine_chunks()
        dims = (len(vol[0]), len(vol[0][0]))
        flat = vol.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
        cube = flat.reshape(table.num_rows, *dims, -1)
        for i in range(table.num_rows):
            ids.append(table.column("exam_id")[i].as_py())
            labels.append(table.column("label")[i].as_py())
            images.append(
                slab(
                    cube[i],
                    table.column("pixel_spacing_mm")[i].as_py(),
                    table.column("slice_thickness_mm")[i].as_py(),
                )
            )
    return ids, labels, np.stack(images)[:, None]
