"""Cost of `portal release` at two sizes, against a plain read + write + hash baseline.

For 200 and 2,000 synthetic exams at the default shape (synthesised and
ingested first, untimed), times ``build_release`` and, in the same run, a
baseline that reads every staged byte, writes as many bytes as the release
holds and sha256-hashes them. Reports the ratio (target: within 2x), peak
memory of the release over all processes (it should not grow with the exam
count), and the time of a no-op ``dvc repro`` of this repository's pipeline
when its outputs exist (after ``make demo``).

It also states the cost of immutability, measured in the same run on the same staged
DICOM: placing them in a release by copy (or reflink, where the file system offers
one) as the release does, against the hard links it used to make (which shared their
bytes with staging), and making the release read-only (files 0444, folders 0555).
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


def baseline(staging: Path, release_bytes: int, out: Path) -> tuple[float, float]:
    """Read every staged byte, write ``release_bytes`` bytes, sha256 both; return the
    wall and processor seconds."""
    out.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
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
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    shutil.rmtree(out)
    return elapsed, cpu


def immutability_cost(staging: Path, release: Path, out: Path) -> dict:
    """Seconds to place the staged DICOM by copy/reflink and by hard link, and to make
    the built release read-only; the copy method the file system allowed."""
    from portal.release.build import clone_file, make_read_only

    files = sorted((staging / "dicom").rglob("*.dcm"))

    def place(how) -> tuple[float, str]:
        target = out / "place"
        target.mkdir(parents=True)
        start = time.perf_counter()
        used = ""
        for index, path in enumerate(files):
            used = how(path, target / f"{index:06d}.dcm") or used
        os.sync()  # the copies' bytes reach the disk inside the measured time
        elapsed = time.perf_counter() - start
        shutil.rmtree(target)
        return elapsed, used

    linked, _ = place(os.link)
    copied, method = place(clone_file)
    start = time.perf_counter()
    make_read_only(release)
    read_only = time.perf_counter() - start
    return {
        "dicom_files": len(files),
        "dicom_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "hardlink_seconds": round(linked, 3),
        "copy_seconds": round(copied, 3),
        "copy_method": method,
        "read_only_seconds": round(read_only, 3),
    }


def _release_in_fresh_process(work: Path) -> dict:
    """Run the release alone in a new interpreter, so its peak memory is its own."""
    code = (
        "import json, time; from pathlib import Path; from bench.common import TreeMemory\n"
        "from portal.release.cards import load_card\n"
        "from portal.release.build import build_release\n"
        "if __name__ == '__main__':\n"
        f"    work = Path({str(work)!r})\n"
        f"    card = load_card(Path({str(ROOT / 'data_cards' / 'datpark.md')!r}))\n"
        "    with TreeMemory() as memory:\n"
        "        start, cpu = time.perf_counter(), time.process_time()\n"
        "        s = build_release('datpark', work / 'data' / 'staging', work / 'data' / "
        "'releases', card, version='1.0.0', date='2025-06-01', notes='Benchmark release.')\n"
        "        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu\n"
        "    print(json.dumps({'seconds': seconds, 'cpu_seconds': cpu, 'bytes': s.bytes, "
        "'peak_mb': memory.peak_mb}))"
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
    parser.add_argument(
        "--no-repro", action="store_true", help="Skip the no-op `dvc repro` of this repository."
    )
    args = parser.parse_args(argv)
    from portal.ingest.staging import ingest
    from portal.release.cards import load_card
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
                schema=card.meta.schema,
                key=b"bench-release-key-0123456789abc",
            )
            result = _release_in_fresh_process(work)
            seconds, size, peak = result["seconds"], result["bytes"], result["peak_mb"]
            base, base_cpu = baseline(work / "data" / "staging", size, work / "baseline")
            cost = immutability_cost(
                work / "data" / "staging", work / "data" / "releases" / "1.0.0", work / "imm"
            )
        extra = cost["copy_seconds"] - cost["hardlink_seconds"] + cost["read_only_seconds"]
        row = {
            "exams": exams,
            "release_seconds": round(seconds, 2),
            "exams_per_s": round(exams / seconds, 1),
            "release_mb": round(size / 1e6, 1),
            "baseline_seconds": round(base, 2),
            "ratio_to_baseline": round(seconds / base, 2),
            "cpu_seconds": round(result["cpu_seconds"], 2),
            "baseline_cpu_seconds": round(base_cpu, 2),
            "cpu_ratio_to_baseline": round(result["cpu_seconds"] / max(base_cpu, 1e-9), 2),
            "peak_memory_mb": round(peak, 1),
            "immutability": {
                **cost,
                "extra_seconds": round(extra, 3),
                "share_of_release": round(extra / seconds, 3),
                "ratio_copy_to_hardlink": round(
                    cost["copy_seconds"] / max(cost["hardlink_seconds"], 1e-6), 1
                ),
            },
        }
        rows.append(row)
        print(
            f"release {exams:>5} exams: {seconds:6.1f} s ({size / 1e6:.0f} MB), "
            f"read+write+hash baseline {base:.1f} s, ratio {seconds / base:.2f}x, "
            f"peak {peak:.0f} MB (all processes); processor time {result['cpu_seconds']:.1f} s "
            f"vs {base_cpu:.1f} s, {row['cpu_ratio_to_baseline']:.2f}x"
        )
        print(
            f"  immutability: {cost['dicom_files']} DICOM ({cost['dicom_mb']:.0f} MB) placed by "
            f"{cost['copy_method']} in {cost['copy_seconds']:.2f} s vs hard links "
            f"{cost['hardlink_seconds']:.2f} s ({row['immutability']['ratio_copy_to_hardlink']}x)"
            f", read-only {cost['read_only_seconds']:.3f} s: +{extra:.2f} s, "
            f"{extra / seconds:.1%} of the release"
        )
    repro = None if args.no_repro else noop_repro_seconds()
    print(
        "no-op dvc repro: "
        + (f"{repro:.1f} s" if repro is not None else "not measured (run `make demo` first)")
    )
    record = {"benchmark": "release", "rows": rows, "noop_dvc_repro_seconds": repro}
    print(f"results: {save('release', record)}")


if __name__ == "__main__":
    main()
