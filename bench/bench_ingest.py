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
peak resident memory at both sizes (it should not grow with the exam count). It
also reports the processor time of each tool's process tree and its ratio: on a
machine shared with other work, wall time also measures the others' load.
"""

from __future__ import annotations

import argparse
import hashlib
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
ROOT = Path(__file__).resolve().parent.parent
PEERS = ("dcmanon", "dicognito")
TOOLS = (*PEERS, "portal")


def _dicognito_one(args: tuple[str, str]) -> int:
    import pydicom
    from dicognito.anonymizer import Anonymizer

    source, target = args
    ds = pydicom.dcmread(source)
    Anonymizer(seed="bench").anonymize(ds)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)
    return Path(source).stat().st_size


_DCMANON: dict = {}


def _dcmanon_one(args: tuple[str, str]) -> int:
    anonymizer = _DCMANON.get("anonymizer")
    if anonymizer is None:
        from dcmanon import Anonymizer

        anonymizer = _DCMANON["anonymizer"] = Anonymizer()
    source, target = args
    data = anonymizer.anonymize(source)
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_bytes(data)
    return Path(source).stat().st_size


def _run_peer(one, export: Path, out: Path) -> dict:
    files = sorted(export.glob("exams/*/*.dcm"))
    jobs = [(str(f), str(out / f.parent.name / "0001.dcm")) for f in files]
    start = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        total = sum(pool.map(one, jobs, chunksize=4))
    return {"seconds": time.perf_counter() - start, "bytes": total, "files": len(files)}


def run_dicognito(export: Path, out: Path) -> dict:
    return _run_peer(_dicognito_one, export, out)


def run_dcmanon(export: Path, out: Path) -> dict:
    return _run_peer(_dcmanon_one, export, out)


def portal_command(export: Path, out: Path) -> list[str]:
    """The whole `portal ingest` command, as an organiser runs it."""
    return [
        str(Path(sys.executable).parent / "portal"),
        "--quiet",
        "--project",
        str(ROOT),
        "ingest",
        "datpark",
        "--export",
        str(export),
        "--out",
        str(out),
        "--workers",
        str(WORKERS),
    ]


def _peer_command(tool: str, export: Path, out: Path) -> list[str]:
    code = (
        "import json; from pathlib import Path\n"
        f"from bench.bench_ingest import run_{tool}\n"
        "if __name__ == '__main__':\n"
        f"    print(json.dumps(run_{tool}(Path({str(export)!r}), Path({str(out)!r}))))"
    )
    return [sys.executable, "-c", code]


def measure(tool: str, export: Path, out: Path) -> dict:
    """Run one tool as a fresh process; return its wall time (the whole process: start-up,
    imports, pools, the work, exit) and the peak memory of its process tree."""
    command = portal_command(export, out) if tool == "portal" else _peer_command(tool, export, out)
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    with TreeMemory(root=child.pid) as memory:  # sampled from here, not inside the tool
        stdout, stderr = child.communicate()
    seconds = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f"{tool} failed on {export}:\n{stdout[-2000:]}{stderr[-3000:]}")
    files = sorted(export.glob("exams/*/*.dcm"))
    if tool == "portal":
        staged = sorted((out / "staging" / "dicom").glob("*/*.dcm"))
        assert len(staged) == len(files), "every synthetic exam should be staged"
        report = json.loads((out / "staging" / "deid_report.json").read_text())
        assert report["verifier"]["passed"] is True and report["verifier"]["elements"] > 0
    return {
        "seconds": seconds,
        "bytes": sum(f.stat().st_size for f in files),
        "files": len(files),
        "peak_tree_mb": memory.peak_mb,
        "cpu_seconds": memory.cpu_seconds,
    }


def staging_hash(staging: Path) -> str:
    """sha256 over every staged file's path and bytes: the de-identified output."""
    digest = hashlib.sha256()
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        digest.update(path.relative_to(staging).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _speed_row(tmp: Path, exams: int) -> dict:
    from portal.synth.export import synthesize

    export = tmp / f"export-{exams}"
    synthesize("datpark", export, exams=exams, seed=1)
    row: dict = {"exams": exams, "shape": "default"}
    runs: dict[str, list[dict]] = {tool: [] for tool in TOOLS}
    # each tool twice, in the order A B C C B A, every run starting with the page cache
    # flushed (os.sync) and no output left: none pays for another's writes
    for tool in (*TOOLS, *reversed(TOOLS)):
        out = tmp / f"{tool}-{exams}"
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        runs[tool].append(measure(tool, export, out))
        if tool == "portal":
            row["staging_sha256"] = staging_hash(out / "staging")
    for tool in TOOLS:
        result = min(runs[tool], key=lambda r: r["seconds"])
        peak = max(r["peak_tree_mb"] for r in runs[tool])
        mb = result["bytes"] / 1e6
        row[tool] = {
            "seconds": round(result["seconds"], 2),
            "runs_seconds": [round(r["seconds"], 2) for r in runs[tool]],
            "cpu_seconds": round(min(r["cpu_seconds"] for r in runs[tool]), 2),
            "exams_per_s": round(exams / result["seconds"], 1),
            "mb_per_s": round(mb / result["seconds"], 1),
            "peak_memory_mb": round(peak, 1),
        }
        print(
            f"{tool:>9} {exams:>5} exams: {result['seconds']:7.2f} s  "
            f"{exams / result['seconds']:6.1f} exams/s  {mb / result['seconds']:6.1f} MB/s"
            f"  peak {peak:.0f} MB (all processes)  cpu {row[tool]['cpu_seconds']:.2f} s"
        )
    for peer in PEERS:
        ratio = round(row[peer]["seconds"] / row["portal"]["seconds"], 2)
        row[f"speed_ratio_portal_vs_{peer}"] = ratio
        cpu = round(row[peer]["cpu_seconds"] / max(row["portal"]["cpu_seconds"], 1e-9), 2)
        row[f"cpu_ratio_portal_vs_{peer}"] = cpu
        print(
            f"  portal / {peer} throughput at {exams} exams: {ratio:.2f}x "
            "(above 1: the portal is faster, while also verifying every element); "
            f"processor time: {cpu:.2f}x"
        )
    shutil.rmtree(export, ignore_errors=True)
    for tool in TOOLS:
        shutil.rmtree(tmp / f"{tool}-{exams}", ignore_errors=True)
    return row


def _memory_row(tmp: Path, exams: int, shape: tuple[int, int, int]) -> dict:
    """Peak memory of `portal ingest` alone at ``exams`` exams of a small volume shape."""
    from portal.synth.export import synthesize

    export = tmp / f"export-small-{exams}"
    synthesize("datpark", export, exams=exams, seed=1, shape=shape)
    out = tmp / f"portal-small-{exams}"
    os.sync()
    result = measure("portal", export, out)
    shutil.rmtree(export, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    label = "x".join(str(n) for n in reversed(shape))
    print(
        f"   portal {exams:>5} exams of {label}: {result['seconds']:7.2f} s  "
        f"peak {result['peak_tree_mb']:.0f} MB (all processes)"
    )
    return {
        "exams": exams,
        "shape": label,
        "seconds": round(result["seconds"], 2),
        "peak_memory_mb": round(result["peak_tree_mb"], 1),
    }


def _shape(text: str) -> tuple[int, int, int]:
    x, y, z = (int(n) for n in text.lower().split("x"))
    return (z, y, x)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    modality = "dicom"
    for i, arg in enumerate(argv):
        if arg == "--modality" and i + 1 < len(argv):
            modality = argv[i + 1]
            del argv[i : i + 2]
            break
        if arg.startswith("--modality="):
            modality = arg.split("=", 1)[1]
            del argv[i]
            break
    if modality == "tabular":  # the ML-KIDCAR tables: bench/tabular_ingest.py
        from bench.tabular_ingest import main as tabular

        return tabular(argv)
    if modality != "dicom":
        raise SystemExit(f"--modality {modality!r}: choose dicom or tabular")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs="*",
        default=[2000, 20000],
        help="Exam counts of the memory runs (portal only, small volumes); none to skip.",
    )
    parser.add_argument(
        "--memory-shape",
        default="32x32x16",
        help="Volume shape (XxYxZ) of the memory runs: 20,000 full-size exams need 40 GB.",
    )
    args = parser.parse_args(argv)

    rows, memory_rows = [], []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=ROOT) as tmp:
        for exams in args.sizes:
            rows.append(_speed_row(Path(tmp), exams))
        for exams in args.memory_sizes:
            memory_rows.append(_memory_row(Path(tmp), exams, _shape(args.memory_shape)))
    peaks = [(r["exams"], "default", r["portal"]["peak_memory_mb"]) for r in rows]
    peaks += [(r["exams"], r["shape"], r["peak_memory_mb"]) for r in memory_rows]
    print(
        "portal ingest peak memory (all processes): "
        + ", ".join(f"{n} exams ({shape}) {mb:.0f} MB" for n, shape, mb in peaks)
    )
    growth = None
    if len(memory_rows) > 1:
        small, large = memory_rows[0], memory_rows[-1]
        growth = round(large["peak_memory_mb"] / small["peak_memory_mb"] - 1, 3)
        print(
            f"  {small['exams']} -> {large['exams']} exams at {small['shape']}: "
            f"{growth:+.1%} (target: within 5 %)"
        )
    record = {"benchmark": "ingest", "rows": rows, "memory_rows": memory_rows}
    record["memory_growth"] = growth
    print(f"results: {save('ingest', record)}")


if __name__ == "__main__":
    main()
