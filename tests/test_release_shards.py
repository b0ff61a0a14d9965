"""A Parquet shard written one volume at a time holds the very bytes of one written
from a single array of all its volumes (how releases were first written): releases
already published keep their content hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest

from portal.release.cards import load_card
from portal.release.dicom import _nested, _Shard, _write_shard
from portal.release.versions import Tables
from portal.synth.export import synthesize

ROOT = Path(__file__).resolve().parents[1]


def _single_array_shard(shard: _Shard, path) -> None:
    """The shard as the portal wrote it before: one array of all the volumes."""
    from portal.export.volume import read_volume as _volume
    from portal.release.dicom import _row

    rows, volumes = [], []
    for exam, dicom in zip(shard.exams, shard.dicom, strict=True):
        volume, info = _volume(dicom)
        volumes.append(volume)
        rows.append({**_row(exam, shard.tables, shard.withheld, shard.schema), **info})
    table = pa.table({name: [r.get(name) for r in rows] for name in rows[0]})
    if len({v.shape for v in volumes}) == 1:
        column = _nested(np.stack(volumes))
    else:
        column = pa.concat_arrays([_nested(v[np.newaxis]) for v in volumes])
    table = table.append_column("volume", column)
    pq.write_table(table, path, compression="zstd", row_group_size=16)


@pytest.mark.parametrize("mixed", [False, True])
def test_shard_bytes_are_those_of_the_single_array_writer(tmp_path, mixed):
    export = tmp_path / "export"
    synthesize("datpark", export, exams=5, seed=8, shape=(12, 40, 36))
    files = sorted(export.glob("exams/*/*.dcm"))
    if mixed:  # one volume of another shape: the per-volume path of the old writer
        ds = pydicom.dcmread(files[0])
        pixels = ds.pixel_array[:7, :20, :30].copy()
        ds.NumberOfFrames, ds.Rows, ds.Columns = 7, 20, 30
        ds.PixelData = pixels.tobytes()
        ds.save_as(files[0])
    staging = tmp_path / "staging"
    staging.mkdir()
    for name in ("labels.csv", "splits.csv", "clinical.csv"):
        (staging / name).write_bytes((export / name).read_bytes())
    tables = Tables.read(staging)
    (tmp_path / "out" / "data").mkdir(parents=True)
    shard = _Shard(
        out=str(tmp_path / "out"),
        name="data/train-00000-of-00001.parquet",
        exams=tuple(f.parent.name for f in files),
        dicom=tuple(str(f) for f in files),
        tables=tables,
        withheld=False,
        schema=load_card(ROOT / "data_cards" / "datpark.md").meta.schema,
    )
    name, _size, shape, rows = _write_shard(shard)
    assert rows == len(files) and (shape == () if mixed else shape == (12, 40, 36))
    _single_array_shard(shard, tmp_path / "single.parquet")
    written = (tmp_path / "out" / name).read_bytes()
    assert (
        hashlib.sha256(written).digest()
        == hashlib.sha256((tmp_path / "single.parquet").read_bytes()).digest()
    )
