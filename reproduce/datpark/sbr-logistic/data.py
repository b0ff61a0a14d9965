"""Read the challenge's Parquet shards: one row per exam, the volume as a 3-D array."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

COLUMNS = ["exam_id", "label", "age", "sex", "pixel_spacing_mm", "slice_thickness_mm", "volume"]


def exams(release: Path, split: str):
    """Yield (row without volume, volume) for every exam of ``split``."""
    shards = sorted((Path(release) / "data").glob(f"{split}-*.parquet"))
    if not shards:
        raise SystemExit(f"no Parquet shard for split {split!r} under {release}/data")
    for shard in shards:
        table = pq.read_table(shard, columns=COLUMNS)
        volumes = table.column("volume").combine_chunks()
        rows = table.drop(["volume"]).to_pylist()
        first = volumes[0].as_py() if len(rows) else None
        shape = (len(first), len(first[0]), len(first[0][0])) if first else (0, 0, 0)
        flat = volumes.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
        stack = flat.reshape(len(rows), *shape)  # one release, one matrix size
        yield from zip(rows, stack, strict=True)


def as_float(value) -> float:
    return float("nan") if value is None else float(value)
