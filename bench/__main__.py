"""`python -m bench [name ...] [options]`: run the benchmarks (all by default).

Options after the names go to each named benchmark, e.g. `python -m bench publish --exams 200`.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("synth", "ingest", "release", "reproduce", "site", "publish")


def main() -> None:
    argv = sys.argv[1:]
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or list(BENCHMARKS), argv[first_option:]
    for name in names:
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        print(f"== {name}")
        importlib.import_module(f"bench.bench_{name}").main(options)


if __name__ == "__main__":
    main()
