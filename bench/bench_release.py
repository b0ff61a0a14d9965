"""Cost of `portal release` at two sizes, against a plain read + write + hash baseline.

For 200 and 2,000 synthetic exams at the default shape (synthesised and
ingested first, untimed), times ``build_release`` and, in the same run, a
baseline that reads every staged byte, writes as many bytes as the release
holds and sha256-hashes them. Reports the ratio (target: within 2x), peak
memory of the release over all processes (it should not grow with the exam
count), and the time of a no-op ``dvc repro`` of this repository's pipeline
when its outputs exist (after ``make demo``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import save

ROOT = Path(__file__).resolve().parent.parent


def baseline(staging: Path, release_bytes: int, out: Path) -> float:
    """Read every staged byte, write ``release_bytes`` bytes, sha256 both."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    written = 0
    index = 0
    for path in sorted(staging.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        if written < release_bytes:
            chunk = data[: release_bytes - written]
            (out / f"{index:06d}.bin").write_bytes(chunk)
            hashlib.sha256(chunk).hexdigest()
            written += len(chunk)
            index += 1
    while written < release_bytes:  # the release is larger (Parquet + DICOM): write the rest
        chunk = os.urandom(min(1 << 24, release_bytes - written))
        (out / f"{index:06d}.bin").write_bytes(chunk)
        hashlib.sha256(chunk).hexdigest()
        written += len(chunk)
        index += 1
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return elapsed


def _release_in_fresh_process(work: Path) -> dict:
    """Run the release alone in a new interpreter, so its peak memory is its own."""
    code = (
        "import json, time; from pathlib import Path; from bench.common import TreeMemory\n"
        "from portal.cards import load_card; from portal.release import build_release\n"
        "if __name__ == '__main__':\n"
        f"    work = Path({str(work)!r})\n"
        f"    card = load_card(Path({str(ROOT / 'data_cards' / 'datpark.md')!r}))\n"
        "    with TreeMemory() as memory:\n"
        "        start = time.perf_counter()\n"
        "        s = build_release('datpark', work / 'data' / 'staging', work / 'data' / "
        "'releases', card, version='1.0.0', date='2025-06-01', notes='Benchmark release.')\n"
        "        seconds = time.perf_counter() - start\n"
        "    print(json.dumps({'seconds': seconds, 'bytes': s.bytes, 'peak_mb': memory.peak_mb}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"release failed:\n{done.stderr[-3000:]}")
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def noop_repro_seconds() -> float | None:
    if not (ROOT / "dvc.lock").exists() or not (ROOT / "data").exists():
        return None
    dvc = str(Path(sys.executable).parent / "dvc")
    start = time.perf_counter()
    done = subprocess.run(
        [dvc, "repro"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"},
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0 or "Running stage" in done.stdout + done.stderr:
        return None  # not a no-op here (outputs missing or stale): nothing to report
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args(argv)
    from portal.cards import load_card
    from portal.ingest import ingest
    from portal.synth.export import synthesize

    card = load_card(ROOT / "data_cards" / "datpark.md")
    rows = []
    for exams in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-release-", dir=".") as tmp:
            work = Path(tmp)
            synthesize("datpark", work / "export", exams=exams, seed=2)
            ingest(
                "datpark",
                work / "export",
                work / "data",
                options=card.meta.deidentification,
                key=b"bench-release-key-0123456789abc",
            )
            result = _release_in_fresh_process(work)
            seconds, size, peak = result["seconds"], result["bytes"], result["peak_mb"]
            base = baseline(work / "data" / "staging", size, work / "baseline")
        row = {
            "exams": exams,
            "release_seconds": round(seconds, 2),
            "exams_per_s": round(exams / seconds, 1),
            "release_mb": round(size / 1e6, 1),
            "baseline_seconds": round(base, 2),
            "ratio_to_baseline": round(seconds / base, 2),
            "peak_memory_mb": round(peak, 1),
        }
        rows.append(row)
        print(
            f"release {exams:>5} exams: {seconds:6.1f} s ({size / 1e6:.0f} MB), "
            f"read+write+hash baseline {base:.1f} s, ratio {seconds / base:.2f}x, "
            f"peak {peak:.0f} MB (all processes)"
        )
    repro = noop_repro_seconds()
    print(
        "no-op dvc repro: "
        + (f"{repro:.1f} s" if repro is not None else "not measured (run `make demo` first)")
    )
    record = {"benchmark": "release", "rows": rows, "noop_dvc_repro_seconds": repro}
    print(f"results: {save('release', record)}")


if __name__ == "__main__":
    main()
