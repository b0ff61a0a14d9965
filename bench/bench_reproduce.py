"""The runner's own overhead: `portal reproduce` against the same team command run bare.

For two release sizes (synthesised, ingested and released first, untimed), a
real team (``reproduce/datpark/sbr-logistic``) is run:

- bare: its ``train`` and ``predict`` commands, one after another, with its
  environment's Python, outside any sandbox;
- through the runner, with the environment already built (cached): release
  check against the manifest, environment reuse, sandbox (namespaces,
  read-only mounts, limits), scoring with a bootstrap CI, figures and MLflow
  logging. The determinism repeat and the hardware check are off: they run the
  team again by design.

The ratio runner / bare is the overhead (aim: under 1.10 once the environment
is cached). The first runner call, which builds the environment, is reported
separately.

The cost of portable numerics: the CNN's (``reproduce/datpark/cnn-saliency``) train
step, in the sandbox on the first size's release, under the native setting (the
machine's own kernels) and the portable one (baseline kernels, oneDNN off, MKL on its
compatible path); the ratio portable / native is what a reproduction pays for the same
bytes on any machine (``--no-cnn`` skips it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import datpark_release, save

ROOT = Path(__file__).resolve().parent.parent
TEAM = "sbr-logistic"


def _project(work: Path, exams: int) -> None:
    datpark_release(work, exams=exams, seed=2024, key=b"bench-reproduce-key-0123456789abc")
    shutil.copytree(ROOT / "reproduce" / "datpark", work / "reproduce" / "datpark")
    shutil.copytree(ROOT / "data_cards", work / "data_cards")  # the schema scoring reads


def _bare(work: Path, python: Path) -> float:
    """The team's own commands, as a researcher would type them, no portal around them."""
    team = work / "reproduce" / "datpark" / TEAM
    release = work / "data" / "datpark" / "releases" / "1.0.0"
    out = work / "bare"
    shutil.rmtree(out, ignore_errors=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "OMP_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        "HOME": str(out),
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    commands = [
        [
            str(python),
            str(team / "train.py"),
            "--release",
            str(release),
            "--model",
            str(out / "model"),
            "--seed",
            "20250117",
        ]
    ]
    for split in ("public_test", "private_test"):
        commands.append(
            [
                str(python),
                str(team / "predict.py"),
                "--release",
                str(release),
                "--model",
                str(out / "model"),
                "--split",
                split,
                "--out",
                str(out / "predictions" / f"{split}.csv"),
            ]
        )
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, cwd=team, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _runner(work: Path) -> tuple[float, object]:
    from portal.reproduce.reproduction import Reproduction

    start = time.perf_counter()
    outcome = Reproduction(work, "datpark").run(TEAM, repeat=False, hardware_check=False)
    return time.perf_counter() - start, outcome


def _startup(repeats: int = 10) -> dict[str, float]:
    """Start-up cost of one sandboxed step: an empty Python step through the sandbox
    (bubblewrap, the launcher and its system-call filter, the supervisor, the run
    directory's tmpfs) against the same step run bare, median of ``repeats``."""
    import statistics

    from portal.reproduce.sandbox import Limits, Workspace
    from portal.reproduce.sandbox import run as sandboxed

    python = "/usr/bin/python3"
    bare, boxed = [], []
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        work = Path(folder)
        (work / "code").mkdir()
        (work / "code" / "step.py").write_text("print('ok')\n")
        limits = Limits(wall_seconds=60)
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(
                [python, str(work / "code" / "step.py")], check=True, capture_output=True
            )
            bare.append(time.perf_counter() - start)
            with Workspace(work / "space", limits) as space:
                start = time.perf_counter()
                result = sandboxed(
                    [python, "{code}/step.py"],
                    space.path,
                    mounts={"code": work / "code"},
                    limits=limits,
                    workspace=space,
                )
                boxed.append(time.perf_counter() - start)
                assert result.ok, result.failure
    bare_s, boxed_s = statistics.median(bare), statistics.median(boxed)
    return {
        "bare_step_s": round(bare_s, 4),
        "sandboxed_step_s": round(boxed_s, 4),
        "startup_per_step_s": round(boxed_s - bare_s, 4),
    }


def _cnn_train(work: Path, repeats: int = 2) -> dict[str, float]:
    """The CNN's train step, native kernels against portable ones (best of ``repeats``)."""
    from portal.reproduce import environments
    from portal.reproduce.reproduction import Reproduction, _command
    from portal.reproduce.sandbox import Limits, Workspace
    from portal.reproduce.sandbox import run as sandboxed

    job = Reproduction(work, "datpark")
    team = job.team("cnn-saliency")
    environment = environments.ensure(team.requirements, work / ".portal-envs")
    mounts = {"code": team.folder, "release": job.release_view(), "env": environment.path}
    command = _command(team.algorithm.entry_points.train, seed=team.algorithm.seeds[0])
    limits = Limits(wall_seconds=3600, cpu_seconds=3600)
    seconds: dict[str, float] = {}
    for setting in ("native", "portable") * repeats:
        with Workspace(work / f".cnn-{setting}", limits) as space:
            result = sandboxed(
                command,
                space.path,
                mounts=mounts,
                limits=limits,
                workspace=space,
                numerics=setting,
            )
            assert result.ok, f"{setting}: {result.failure} {result.stderr_tail[-500:]}"
            seconds[setting] = min(seconds.get(setting, 1e9), result.wall_seconds)
    return {
        "native_s": round(seconds["native"], 2),
        "portable_s": round(seconds["portable"], 2),
        "portable_over_native": round(seconds["portable"] / seconds["native"], 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,300")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--cnn", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    record = {"team": TEAM, "sizes": {}, "startup": _startup()}
    startup = record["startup"]
    print(
        f"sandbox start-up per step: {startup['startup_per_step_s'] * 1000:.0f} ms "
        f"(empty Python step bare {startup['bare_step_s'] * 1000:.0f} ms, "
        f"sandboxed {startup['sandboxed_step_s'] * 1000:.0f} ms)"
    )
    for index, exams in enumerate(int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix=f"bench-reproduce-{exams}-", dir=ROOT))
        os.environ["PORTAL_ENV_CACHE"] = str(work / ".portal-envs")
        try:
            _project(work, exams)
            cold, _ = _runner(work)  # builds the environment
            from portal.reproduce import environments

            team = work / "reproduce" / "datpark" / TEAM
            environment = environments.ensure(team / "requirements.txt", work / ".portal-envs")
            bare = min(_bare(work, environment.python) for _ in range(2))
            runs = [_runner(work) for _ in range(2)]
            warm = min(seconds for seconds, _ in runs)
            outcome = runs[-1][1]
            row = {
                "bare_s": round(bare, 2),
                "runner_cached_env_s": round(warm, 2),
                "runner_first_run_s": round(cold, 2),
                "overhead_ratio": round(warm / bare, 3),
                "verdict": outcome.verdict.verdict.value,
            }
            record["sizes"][str(exams)] = row
            print(
                f"{exams:5d} exams: bare {bare:6.1f} s, runner {warm:6.1f} s "
                f"(ratio {warm / bare:.3f}; first run with the environment build {cold:.1f} s)"
            )
            if args.cnn and index == 0:
                cnn = record["cnn_train"] = {"exams": exams, **_cnn_train(work)}
                print(
                    f"CNN train step, {exams} exams: native kernels {cnn['native_s']:.1f} s, "
                    f"portable {cnn['portable_s']:.1f} s "
                    f"(ratio {cnn['portable_over_native']:.3f})"
                )
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    print(f"saved {save('reproduce', record)}")


if __name__ == "__main__":
    main()
