"""Helpers shared by the benchmarks: timing, peak memory, a plain write-and-hash baseline."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def timed(action: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = action()
    return time.perf_counter() - start, value


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its largest finished child, in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_mb": round(own, 1), "largest_child_mb": round(children, 1)}


def write_and_hash_baseline(sizes: list[int], out: Path) -> float:
    """Seconds to write files of these sizes (one folder each) and sha256 them: the floor
    that any exporter writing the same bytes has to pay."""
    out.mkdir(parents=True, exist_ok=True)
    block = os.urandom(max(sizes))
    start = time.perf_counter()
    for i, size in enumerate(sizes):
        folder = out / f"{i:06d}"
        folder.mkdir()
        data = block[:size]
        (folder / "file.dcm").write_bytes(data)
        hashlib.sha256(data).hexdigest()
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed


def save(name: str, record: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
