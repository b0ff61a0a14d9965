"""Is the de-identified output byte for byte what it was? Ingest and release the demo's
synthetic export, and compare the staging hash and the release's content hash with the
ones the portal produced before its ingest was made to stream (recorded below).

    python -m bench.output_identity [--workers 1 2] [--exams 300 --seed 2024]

Runs the real commands (``portal synth``, ``portal ingest``, ``portal release``) in a
temporary folder, once for each ``--workers`` value, and exits 1 when a hash differs
from the recorded one (or, for a size with no recorded hash, between the runs).
Speed work must never change what is released: the same export, key and profile give
the same bytes, whatever the number of processes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (exams, seed, shape) -> (staging hash, release 1.0.0 content hash), `--workers 2`. The
#: staging hash was recorded with the portal at commit 2fbaae3 (before the streaming
#: ingest); the release hash again at ac9aa23 (before the streamed export tables and
#: records), since release 1.0.0's citation files came to say that its data is synthetic.
RECORDED: dict[tuple[int, int, str], tuple[str, str]] = {
    (300, 2024, "128x128x64"): (  # the demo's export (params.yaml)
        "3921716ae4577ef35d06b2ce2e530099e25c5e00fb83d8260804f3382cf58061",
        "sha256:e8bf1a3262b1536537d7c18183ec1c5435233804ad2195d1836939f22a98ec5f",
    ),
}


def staging_hash(staging: Path) -> str:
    """sha256 over every staged file's path and bytes (the de-identified output)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        digest.update(path.relative_to(staging).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _portal(*args: str) -> None:
    command = [str(Path(sys.executable).parent / "portal"), "--quiet", "--project", str(ROOT)]
    done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"portal {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def hashes(work: Path, exams: int, seed: int, shape: str, workers: int) -> tuple[str, str]:
    raw, data = work / "raw", work / f"data-{workers}"
    if not raw.exists():
        _portal(
            "synth", "datpark", "--exams", str(exams), "--seed", str(seed), "--shape", shape,
            "--out", str(raw),
        )  # fmt: skip
    _portal("ingest", "datpark", "--export", str(raw), "--out", str(data), f"--workers={workers}")
    _portal("release", "datpark", "--version", "1.0.0", "--data", str(data), "--export", str(raw))
    manifest = json.loads((data / "releases" / "1.0.0" / "manifest.json").read_text())
    return staging_hash(data / "staging"), manifest["content_hash"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--shape", default="128x128x64")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    recorded = RECORDED.get((args.exams, args.seed, args.shape))
    seen: set[tuple[str, str]] = set()
    with tempfile.TemporaryDirectory(prefix="output-identity-", dir=ROOT) as tmp:
        for workers in args.workers:
            found = hashes(Path(tmp), args.exams, args.seed, args.shape, workers)
            seen.add(found)
            print(f"workers {workers}: staging sha256:{found[0]}  release 1.0.0 {found[1]}")
    if recorded:
        print(f"recorded:  staging sha256:{recorded[0]}  release 1.0.0 {recorded[1]}")
    same = len(seen) == 1 and (recorded is None or seen == {recorded})
    print("identical" if same else "DIFFERENT: the de-identified output changed")
    return 0 if same else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
