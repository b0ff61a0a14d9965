"""`python -m bench [name ...]`: run the benchmarks (all by default)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("synth", "ingest", "release", "reproduce", "site")


def main() -> None:
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
        print(f"== {name}")
        importlib.import_module(f"bench.bench_{name}").main([])


if __name__ == "__main__":
    main()
