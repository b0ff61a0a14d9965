"""The cost of verified publishing, against a plain copy of the same files.

For two release sizes (synthesised, ingested and released first, untimed):

- folder: ``shutil.copytree`` of the release (baseline) against
  ``publish --to dir://`` (re-hash the release, copy each file through a temporary
  name with fsync, re-hash the mirror), then a second ``publish`` (nothing to send);
- S3, on a SeaweedFS started on 127.0.0.1: the same files sent with boto3's
  ``upload_file`` on as many threads, no checksum and no check (baseline), against
  ``publish --to s3://`` (every object sent with its sha256 for the store to check,
  then listed and compared), then a second ``publish``.

Ratios above 1 are the price of the guarantees; the second publish shows that a
re-run costs a listing, not an upload.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import datpark_release, save, timed

WORKERS = 8


def _copy_baseline(release: Path, out: Path) -> float:
    seconds, _ = timed(lambda: shutil.copytree(release, out))
    shutil.rmtree(out)
    return seconds


def _s3_baseline(store, release: Path, bucket: str) -> float:
    client = store.client()
    files = [p for p in sorted(release.rglob("*")) if p.is_file()]

    def send(path: Path) -> None:
        client.upload_file(str(path), bucket, f"plain/{path.relative_to(release).as_posix()}")

    def run() -> None:
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(send, files))

    seconds, _ = timed(run)
    return seconds


def measure(exams: int, work: Path) -> dict:
    from portal.core.environ import scoped_environ
    from portal.publish.publication import publish
    from tests import servers

    datpark_release(work, exams=exams, seed=2024, key=b"bench-publish-key-0123456789abcde")
    release = work / "data" / "datpark" / "releases" / "1.0.0"
    files = [p for p in release.rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    row: dict = {"exams": exams, "files": len(files), "mb": round(size_mb, 1)}

    row["dir_baseline_s"] = _copy_baseline(release, work / "plain-copy")
    row["dir_publish_s"], _ = timed(lambda: publish(release, f"dir://{work / 'mirror'}"))
    row["dir_again_s"], _ = timed(lambda: publish(release, f"dir://{work / 'mirror'}"))
    shutil.rmtree(work / "mirror")

    store = servers.start_seaweedfs(work / "s3")
    try:
        store.make_bucket("bench")
        row["s3_baseline_s"] = _s3_baseline(store, release, "bench")
        with scoped_environ(store.env()):
            target = "s3://bench/releases"
            row["s3_publish_s"], _ = timed(
                lambda: publish(release, target, endpoint_url=store.endpoint, workers=WORKERS)
            )
            row["s3_again_s"], _ = timed(
                lambda: publish(release, target, endpoint_url=store.endpoint, workers=WORKERS)
            )
    finally:
        store.service.stop(grace=2)
    for kind in ("dir", "s3"):
        row[f"{kind}_ratio"] = round(row[f"{kind}_publish_s"] / row[f"{kind}_baseline_s"], 2)
        row[f"{kind}_mb_per_s"] = round(size_mb / row[f"{kind}_publish_s"], 1)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, nargs="+", default=[200, 2000])
    args = parser.parse_args(argv)
    rows = []
    for exams in args.exams:
        with tempfile.TemporaryDirectory(prefix="bench-publish-", dir=".") as tmp:
            row = measure(exams, Path(tmp).resolve())
        rows.append(row)
        print(
            f"{exams} exams, {row['files']} files, {row['mb']} MB | "
            f"dir: copy {row['dir_baseline_s']} s, publish {row['dir_publish_s']} s "
            f"({row['dir_ratio']}x, {row['dir_mb_per_s']} MB/s), again {row['dir_again_s']} s | "
            f"s3: plain upload {row['s3_baseline_s']} s, publish {row['s3_publish_s']} s "
            f"({row['s3_ratio']}x, {row['s3_mb_per_s']} MB/s), again {row['s3_again_s']} s",
            flush=True,
        )
    print(f"saved {save('publish', {'rows': rows})}")


if __name__ == "__main__":
    main()
