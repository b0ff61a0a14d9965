"""Throughput of `portal ingest` against dicognito, on the same files, in the same run.

For 200 and 2,000 synthetic exams at the default shape, times:

- ``portal ingest``: contract check, de-identification, writing, the
  independent verifier over every output element, the report;
- ``dicognito`` on the same files, one file per task on the same two
  processes, writing its output beside: de-identification only.

Each measurement runs in a fresh subprocess; peak memory is sampled over its
whole process tree (workers included), from the benchmark's own process so that
the sampling never competes with the measured tool for its interpreter.
Each tool runs twice, in the order dicognito, portal, portal, dicognito, each run
after ``os.sync()`` with no output left from before; the faster run of each
counts (the order and the other tool's pending writes then favour neither).
Reports exams/s, MB/s, the speed ratio (above 1: the portal is faster) and
peak resident memory at both sizes (it should not grow with the exam count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.common import TreeMemory, save

WORKERS = 2


def _dicognito_one(args: tuple[str, str]) -> int:
    import pydicom
    from dicognito.anonymizer import Anonymizer

    source, target = args
    ds = pydicom.dcmread(source)
    Anonymizer(seed="bench").anonymize(ds)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)
    return Path(source).stat().st_size


def run_dicognito(export: Path, out: Path) -> dict:
    files = sorted(export.glob("exams/*/*.dcm"))
    jobs = [(str(f), str(out / f.parent.name / "0001.dcm")) for f in files]
    start = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        total = sum(pool.map(_dicognito_one, jobs, chunksize=4))
    return {"seconds": time.perf_counter() - start, "bytes": total, "files": len(files)}


def run_portal(export: Path, out: Path) -> dict:
    from portal.deid.profile import DeidOptions
    from portal.ingest.staging import ingest

    files = sorted(export.glob("exams/*/*.dcm"))
    start = time.perf_counter()
    summary = ingest(
        "datpark",
        export,
        out,
        options=DeidOptions(pseudonym_prefix="DPK"),
        key=b"bench-key-0123456789abcdef",
        workers=WORKERS,
    )
    seconds = time.perf_counter() - start
    assert summary.files == len(files), "every synthetic exam should be staged"
    return {
        "seconds": seconds,
        "bytes": sum(f.stat().st_size for f in files),
        "files": len(files),
        "verified_elements": summary.verifier_elements,
    }


def measure(tool: str, export: Path, out: Path) -> dict:
    """Run one tool in a fresh interpreter; return its timing and peak memory."""
    code = (
        "import json; from pathlib import Path; "
        "from bench.bench_ingest import run_dicognito, run_portal\n"
        "if __name__ == '__main__':\n"
        f"    r = run_{tool}(Path({str(export)!r}), Path({str(out)!r}))\n"
        "    print(json.dumps(r))"
    )
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    with TreeMemory(root=child.pid) as memory:  # sampled from here, not inside the tool
        stdout, stderr = child.communicate()
    if child.returncode:
        raise SystemExit(f"{tool} failed on {export}:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_tree_mb"] = memory.peak_mb
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args(argv)
    from portal.synth.export import synthesize

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=".") as tmp:
        for exams in args.sizes:
            export = Path(tmp) / f"export-{exams}"
            synthesize("datpark", export, exams=exams, seed=1)
            row = {"exams": exams}
            runs: dict[str, list[dict]] = {"dicognito": [], "portal": []}
            # each tool twice, in the order A B B A, every run starting with the page cache
            # flushed (os.sync) and no output left: neither pays for the other's writes
            for tool in ("dicognito", "portal", "portal", "dicognito"):
                out = Path(tmp) / f"{tool}-{exams}"
                shutil.rmtree(out, ignore_errors=True)
                os.sync()
                runs[tool].append(measure(tool, export, out))
            for tool in ("dicognito", "portal"):
                result = min(runs[tool], key=lambda r: r["seconds"])
                result["peak_tree_mb"] = max(r["peak_tree_mb"] for r in runs[tool])
                mb = result["bytes"] / 1e6
                row[tool] = {
                    "seconds": round(result["seconds"], 2),
                    "exams_per_s": round(exams / result["seconds"], 1),
                    "mb_per_s": round(mb / result["seconds"], 1),
                    "peak_memory_mb": round(result["peak_tree_mb"], 1),
                }
                print(
                    f"{tool:>9} {exams:>5} exams: {result['seconds']:7.1f} s  "
                    f"{exams / result['seconds']:6.1f} exams/s  {mb / result['seconds']:6.1f} MB/s"
                    f"  peak {result['peak_tree_mb']:.0f} MB (all processes)"
                )
            row["speed_ratio_portal_vs_dicognito"] = round(
                row["dicognito"]["seconds"] / row["portal"]["seconds"], 2
            )
            print(
                f"  portal / dicognito throughput: {row['speed_ratio_portal_vs_dicognito']:.2f}x "
                "(above 1: the portal is faster, while also verifying every element)"
            )
            rows.append(row)
            shutil.rmtree(Path(tmp), ignore_errors=True)
            Path(tmp).mkdir(exist_ok=True)
    if len(rows) > 1:
        small, large = rows[0]["portal"], rows[-1]["portal"]
        print(
            f"portal peak memory {small['peak_memory_mb']:.0f} MB -> "
            f"{large['peak_memory_mb']:.0f} MB (all processes) "
            f"for {rows[0]['exams']} -> {rows[-1]['exams']} exams"
        )
    print(f"results: {save('ingest', {'benchmark': 'ingest', 'rows': rows})}")


if __name__ == "__main__":
    main()
