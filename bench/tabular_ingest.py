"""The tabular ingest against a plain Parquet read and write of the same tables.

``python -m bench ingest --modality tabular [--sizes 2000 20000] [--repeats 2]``

For each size, a synthetic ML-KIDCAR export (``portal synth mlkidcar``, seed 1, untimed)
is processed by two commands, each a fresh process whose peak memory is sampled over
its whole process tree (``bench.common.TreeMemory``):

- **portal**: ``python -m portal.tabular.ingest``: read and validate every file of the
  export, de-identify (pseudonyms, date shifts, removals, age top-coding), generalise
  and suppress until k and l hold (the risk measurement over every combination of
  generalisation levels), write the staging, run the independent verifier (every
  identifying value searched in every output cell, k and l recomputed), swap it in;
- **baseline**: read the same CSV tables and every monitor file with pyarrow's CSV
  reader (the ``#`` header lines dropped), and write them as Parquet with the same
  compression: one file per table and one long signals table, no checking, no
  de-identification. The floor any tool that reads and writes these tables pays.

Each command runs ``--repeats`` times, alternating (baseline, portal, portal, baseline
for two), after ``os.sync()``; the faster run counts, the peak is the largest seen.
Reports surgeries/s, the ratio (portal time / baseline time), the portal's own
split of its time (read and validate, de-identify, verify) and peak memory, and saves
``bench/results/ingest-tabular.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import TreeMemory, save

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("patients", "surgeries", "labs", "outcomes", "notes", "splits")


def baseline(export: Path, out: Path) -> dict:
    """Read the export's tables and signals, write them as Parquet (see module docstring)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    quoted = pacsv.ParseOptions(newlines_in_values=True)  # operative notes span lines
    for name in TABLES:
        table = pacsv.read_csv(export / f"{name}.csv", parse_options=quoted)
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
        rows += table.num_rows
    pieces = []
    for path in sorted((export / "signals").glob("*/*.csv")):
        lines = path.read_bytes().split(b"\n")
        body = b"\n".join(line for line in lines if not line.startswith(b"#"))
        table = pacsv.read_csv(io.BytesIO(body))
        surgery = pa.array([path.parent.name] * table.num_rows, type=pa.string())
        pieces.append(table.add_column(0, "surgery_id", surgery))
    signals = pa.concat_tables(pieces, promote_options="permissive")
    pq.write_table(signals, out / "signals.parquet", compression="zstd")
    return {"rows": rows + signals.num_rows, "signal_files": len(pieces)}


def command(tool: str, export: Path, out: Path) -> list[str]:
    if tool == "portal":
        return [
            sys.executable,
            "-m",
            "portal.tabular.ingest",
            "--export",
            str(export),
            "--out",
            str(out),
        ]
    code = (
        "import json; from pathlib import Path\n"
        "from bench.tabular_ingest import baseline\n"
        f"print(json.dumps(baseline(Path({str(export)!r}), Path({str(out)!r}))))"
    )
    return [sys.executable, "-c", code]


def measure(tool: str, export: Path, out: Path) -> dict:
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT))
    env.pop("PORTAL_KEY", None)
    start = time.perf_counter()
    child = subprocess.Popen(
        command(tool, export, out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    with TreeMemory(root=child.pid) as memory:
        stdout, stderr = child.communicate()
    seconds = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f"{tool} failed on {export}:\n{stdout[-2000:]}{stderr[-3000:]}")
    result = {"seconds": seconds, "peak_tree_mb": memory.peak_mb}
    if tool == "portal":
        steps = re.findall(r"([a-z][a-z -]+?) ([0-9.]+) s", stdout.strip().splitlines()[-1])
        result["steps_seconds"] = {name.strip(): float(value) for name, value in steps}
        result["summary"] = stdout.strip().splitlines()[:3]
        report = json.loads((out / "staging" / "deid_report.json").read_text())
        result["risk"] = {
            k: report["risk"][k] for k in ("k", "l", "suppressed_surgeries", "generalisation")
        }
        assert json.loads((out / "staging" / "verification.json").read_text())["findings"] == []
    return result


def row_for(tmp: Path, surgeries: int, repeats: int) -> dict:
    from portal.synth.mlkidcar.export import synthesize

    export = tmp / f"export-{surgeries}"
    synthesize(export, surgeries=surgeries, seed=1)
    size = sum(p.stat().st_size for p in export.rglob("*") if p.is_file())
    runs: dict[str, list[dict]] = {"baseline": [], "portal": []}
    order = ["baseline", "portal"]
    for i in range(repeats):
        for tool in order if i % 2 == 0 else reversed(order):
            out = tmp / f"{tool}-{surgeries}"
            shutil.rmtree(out, ignore_errors=True)
            os.sync()
            runs[tool].append(measure(tool, export, out))
            shutil.rmtree(out, ignore_errors=True)
    row: dict = {"surgeries": surgeries, "export_mb": round(size / 1e6, 1)}
    for tool, results in runs.items():
        best = min(results, key=lambda r: r["seconds"])
        row[tool] = {
            "seconds": round(best["seconds"], 2),
            "runs_seconds": [round(r["seconds"], 2) for r in results],
            "surgeries_per_s": round(surgeries / best["seconds"], 1),
            "peak_memory_mb": round(max(r["peak_tree_mb"] for r in results), 1),
        }
        if tool == "portal":
            row[tool]["steps_seconds"] = best["steps_seconds"]
            row[tool]["risk"] = best["risk"]
    row["time_ratio_portal_vs_baseline"] = round(
        row["portal"]["seconds"] / row["baseline"]["seconds"], 2
    )
    for tool in ("baseline", "portal"):
        r = row[tool]
        print(
            f"{tool:>9} {surgeries:>6} surgeries: {r['seconds']:7.2f} s  "
            f"{r['surgeries_per_s']:7.1f} surgeries/s  peak {r['peak_memory_mb']:.0f} MB"
            + (
                "  (" + ", ".join(f"{k} {v:.1f} s" for k, v in r["steps_seconds"].items()) + ")"
                if tool == "portal"
                else ""
            )
        )
    print(
        f"  portal / baseline time at {surgeries} surgeries: "
        f"{row['time_ratio_portal_vs_baseline']:.2f}x (de-identification, k and l, and "
        "the independent verifier, against reading and writing the same tables)"
    )
    shutil.rmtree(export, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-tabular-", dir=ROOT) as tmp:
        for surgeries in args.sizes:
            rows.append(row_for(Path(tmp), surgeries, args.repeats))
    record = {"benchmark": "ingest --modality tabular", "rows": rows}
    print(f"results: {save('ingest-tabular', record)}")


if __name__ == "__main__":
    main()
