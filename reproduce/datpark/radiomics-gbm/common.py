"""Feature table of a split, computed from the release's Parquet shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.dataset as ds

from radiomics import features


def feature_table(release: Path, split: str) -> tuple[list[str], list[str | None], np.ndarray, list[str]]:
    """(exam ids, labels, feature matrix, feature names) for every exam of ``split``."""
    files = sorted(str(p) for p in (Path(release) / "data").glob(f"{split}-*.parquet"))
    if not files:
        raise SystemExit(f"{release}: no data/{split}-*.parquet shard")
    dataset = ds.dataset(files, format="parquet")
    ids, labels, rows, names = [], [], [], None
    for batch in dataset.to_batches(
        columns=["exam_id", "label", "age", "pixel_spacing_mm", "slice_thickness_mm", "volume"],
        batch_size=8,
    ):
        meta = batch.drop_columns(["volume"]).to_pylist()
        column = batch.column("volume")
        depth = len(column[0])
        height = len(column[0][0])
        voxels = column.flatten().flatten().flatten().to_numpy(zero_copy_only=False)
        for row, volume in zip(meta, voxels.reshape(len(meta), depth, height, -1), strict=True):
            f = features(volume, row["pixel_spacing_mm"], row["slice_thickness_mm"])
            f["age"] = float(row["age"])
            names = names or sorted(f)
            rows.append([f[n] for n in names])
            ids.append(row["exam_id"])
            labels.append(row["label"])
    return ids, labels, np.array(rows, dtype=np.float64), names
