"""Does the demo show its work? Time-stamp every line a command prints, find the longest
silence.

    python -m bench.demo_log [--cwd DIR] [--max-gap 10] [--log FILE] [-- COMMAND ...]

Runs COMMAND (default ``make demo``) with standard output and error merged, writes
each line with the seconds since the start to FILE (default
``bench/results/demo-log.txt``), prints the longest gaps, and exits 1 when a gap
exceeds ``--max-gap`` seconds (or when the command fails). Run it in a fresh clone to
measure the first-time set-up as well.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cwd", type=Path, default=ROOT)
    parser.add_argument("--max-gap", type=float, default=10.0)
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "results" / "demo-log.txt")
    parser.add_argument("command", nargs="*", default=["make", "demo"])
    args = parser.parse_args(argv)
    args.log.parent.mkdir(parents=True, exist_ok=True)
    start = last = time.monotonic()
    gaps: list[tuple[float, float, str]] = []
    process = subprocess.Popen(
        args.command,
        cwd=args.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    with args.log.open("w", encoding="utf-8") as log:
        for raw in process.stdout:
            now = time.monotonic()
            line = raw.decode(errors="replace").rstrip("\n")
            gaps.append((now - last, now - start, line))
            last = now
            log.write(f"{now - start:8.1f}  {line}\n")
            log.flush()
    code = process.wait()
    end = time.monotonic()
    gaps.append((end - last, end - start, "(end)"))
    worst = sorted(gaps, reverse=True)[:5]
    print(f"{' '.join(args.command)}: exit {code}, {end - start:.0f} s, {len(gaps) - 1} lines")
    print("longest silences (seconds without output, then the line that ended it):")
    for gap, at, line in worst:
        print(f"  {gap:6.1f} s before t={at:6.1f} s: {line[:100]}")
    print(f"log with time stamps: {args.log}")
    if code != 0:
        return 1
    if worst[0][0] > args.max_gap:
        print(f"FAIL: a silence of {worst[0][0]:.1f} s, more than {args.max_gap:g} s")
        return 1
    print(f"OK: no silence longer than {args.max_gap:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
