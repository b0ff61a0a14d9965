"""Throughput of `portal synth` at two sizes, at the default 128 x 128 x 64 shape.

Reports exams/s and MB/s, and the ratio of synth's time to a baseline that
only writes and hashes the same bytes in the same number of files (so the
ratio is the cost of the physics and DICOM encoding on top of raw I/O).
Target: 2,000 exams in about 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from bench.common import peak_rss_mb, save, timed, write_and_hash_baseline
from portal.synth.export import synthesize


def run(sizes: list[int], workdir: Path) -> dict:
    rows = []
    for exams in sizes:
        out = workdir / f"synth-{exams}"
        seconds, summary = timed(
            lambda out=out, n=exams: synthesize("datpark", out, exams=n, seed=0)
        )
        file_sizes = [p.stat().st_size for p in out.glob("exams/*/*.dcm")]
        shutil.rmtree(out)
        baseline = write_and_hash_baseline(file_sizes, workdir / "baseline")
        megabytes = summary.bytes_written / 1e6
        rows.append(
            {
                "exams": exams,
                "seconds": round(seconds, 2),
                "exams_per_s": round(exams / seconds, 1),
                "mb_per_s": round(megabytes / seconds, 1),
                "megabytes": round(megabytes, 1),
                "baseline_seconds": round(baseline, 2),
                "ratio_to_write_and_hash": round(seconds / baseline, 2),
            }
        )
        print(
            f"synth {exams:>5} exams: {seconds:7.1f} s  {exams / seconds:6.1f} exams/s  "
            f"{megabytes / seconds:6.1f} MB/s  ({megabytes:.0f} MB; write+hash baseline "
            f"{baseline:.1f} s, ratio {seconds / baseline:.1f}x)"
        )
    small, large = rows[0], rows[-1]
    growth = (large["seconds"] / small["seconds"]) / (large["exams"] / small["exams"])
    print(
        f"cost per exam grows {growth:.2f}x from {small['exams']} to {large['exams']} exams "
        "(1.0 = linear)"
    )
    return {
        "benchmark": "synth",
        "shape": "128x128x64",
        "rows": rows,
        "per_exam_growth": round(growth, 2),
        "peak_memory": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-synth-", dir=".") as tmp:
        record = run(args.sizes, Path(tmp))
    print(f"results: {save('synth', record)}")


if __name__ == "__main__":
    main()
