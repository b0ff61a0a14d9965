"""``python -m portal.synth.mlkidcar --surgeries N --seed S --out DIR``: a synthetic export.

The same as ``portal synth mlkidcar --exams N --seed S --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from portal.errors import PortalError
from portal.synth.mlkidcar.export import CHALLENGE, synthesize


def report(out: Path, *, surgeries: int, seed: int, overwrite: bool, console: Console) -> None:
    """Write the export and print what it holds."""
    summary = synthesize(out, surgeries=surgeries, seed=seed, overwrite=overwrite)
    aki = sum(n for stage, n in summary.aki_stages.items() if stage >= 1)
    table = Table(title=f"{CHALLENGE} export (synthetic)", show_header=False)
    table.add_row("surgeries / patients", f"{summary.surgeries} / {summary.patients}")
    table.add_row("centres", ", ".join(f"{k} {v}" for k, v in summary.centres.items()))
    table.add_row(
        "KDIGO stages",
        ", ".join(f"{k}: {v}" for k, v in summary.aki_stages.items())
        + f" (AKI {aki / summary.surgeries:.0%})",
    )
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in summary.splits.items()))
    table.add_row("signal files", str(summary.signal_files))
    table.add_row("size", f"{summary.bytes_written / 1e6:.1f} MB")
    console.print(table)
    console.print(f"Export written to {summary.out}", soft_wrap=True, highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portal.synth.mlkidcar", description=__doc__)
    parser.add_argument("--surgeries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("raw") / CHALLENGE)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        report(
            args.out,
            surgeries=args.surgeries,
            seed=args.seed,
            overwrite=args.overwrite,
            console=Console(),
        )
    except PortalError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
