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


class TreeMemory:
    """Peak resident memory of this process and all its descendants, sampled from /proc.

    Worker processes started by a forkserver are not our direct children, so
    ``RUSAGE_CHILDREN`` misses them; summing the tree every 50 ms does not.
    ``root`` samples another process's tree (a measured subprocess), so that the
    sampling thread does not compete for the measured interpreter's lock.

    ``cpu_seconds`` is the processor time (user + system) the tree used, summed over
    every process seen (each at its last sample): on a machine shared with other work,
    wall time measures the others too, processor time does not.
    """

    def __init__(self, interval: float = 0.05, root: int | None = None) -> None:
        import threading

        self.interval = interval
        self.root = root
        self.peak_mb = 0.0
        self._cpu: dict[tuple[int, int], float] = {}  # (pid, start time) -> seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    def _tree_rss_mb(self, root: int) -> float:
        parents: dict[int, int] = {}
        rss: dict[int, int] = {}
        cpu: dict[int, tuple[int, float]] = {}
        page = os.sysconf("SC_PAGE_SIZE")
        tick = os.sysconf("SC_CLK_TCK")
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/statm") as handle:
                    rss[int(entry)] = int(handle.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                continue
            parents[int(entry)] = int(fields[1])
            # fields after the command: 11 utime, 12 stime (clock ticks), 19 start time
            cpu[int(entry)] = (int(fields[19]), (int(fields[11]) + int(fields[12])) / tick)
        members, frontier = {root}, [root]
        while frontier:
            current = frontier.pop()
            for pid, parent in parents.items():
                if parent == current and pid not in members:
                    members.add(pid)
                    frontier.append(pid)
        for pid in members:
            if pid in cpu:
                started, seconds = cpu[pid]
                self._cpu[(pid, started)] = max(self._cpu.get((pid, started), 0.0), seconds)
        return sum(rss.get(pid, 0) for pid in members) / 1e6

    def _run(self) -> None:
        root = self.root or os.getpid()
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._tree_rss_mb(root))
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        root = self.root or os.getpid()
        # a last look (a measured subprocess may be gone by now: then it adds nothing)
        self.peak_mb = max(self.peak_mb, self._tree_rss_mb(root))


def datpark_release(work: Path, *, exams: int, seed: int, key: bytes, workers: int | None = None):
    """Synthesise, ingest and release ``exams`` full-size DaT-Park exams as 1.0.0 under
    ``work/data/datpark`` (untimed set-up of a benchmark); the export is removed after."""
    from portal.ingest.staging import ingest
    from portal.release.build import build_release
    from portal.release.cards import load_card
    from portal.synth.export import synthesize

    root = Path(__file__).resolve().parent.parent
    card = load_card(root / "data_cards" / "datpark.md")
    synthesize("datpark", work / "raw", exams=exams, seed=seed, shape=(64, 128, 128))
    data = work / "data" / "datpark"
    extra = {"workers": workers} if workers else {}
    ingest(
        "datpark",
        work / "raw",
        data,
        options=card.meta.deidentification,
        schema=card.meta.schema,
        key=key,
        **extra,
    )
    build_release(
        "datpark",
        data / "staging",
        data / "releases",
        card,
        version="1.0.0",
        date="2025-06-01",
        notes="Benchmark release.",
    )
    shutil.rmtree(work / "raw")
