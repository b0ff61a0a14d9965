"""bench/demo_log.py: the check that a demo log shows its work (issue: no silence over 10 s,
each reproduction's score and verdict, the per-stage times at the end). The logs here are
synthetic: written by the test, not by a real demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (seconds since the start, line): a short demo that shows its work, made up for the test
GOOD = [
    (0.0, "setup 1/3: Debian packages (dicom3tools, chromium, bubblewrap, postgresql)"),
    (2.5, "setup 2/3: virtual environment .venv/"),
    (9.0, "Running stage 'ingest@datpark':"),
    (14.0, "ingest datpark: working, 150/300 (50%), 5 s"),
    (18.5, "reproducing radiomics-gbm on datpark 1.0.0 …"),
    (27.0, "  radiomics-gbm: train: running, 5 s"),
    (33.0, "radiomics-gbm: reproduced: auc 0.9120 (official 0.9100, 95% CI [0.871, 0.95]) in 14 s"),
    (34.0, "reproducing sbr-logistic on datpark 1.0.0 …"),
    (40.0, "sbr-logistic: within noise: auc 0.8800 (official 0.9000) in 6 s"),
    (41.0, ""),
    (41.0, "Time per stage (portal commands; those DVC found up to date took no time):"),
    (41.2, "  portal synth datpark --out raw/datpark     6.1 s"),
    (41.2, "  portal reproduce datpark radiomics-gbm    14.0 s"),
    (41.2, "  all portal commands                        20.1 s"),
]


def _write(path: Path, lines: list[tuple[float, str]]) -> Path:
    path.write_text("".join(f"{at:8.1f}  {line}\n" for at, line in lines), encoding="utf-8")
    return path


def _check(log: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench.demo_log", "--check", str(log), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_a_log_that_shows_its_work_passes(tmp_path):
    done = _check(_write(tmp_path / "demo.txt", GOOD))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK:" in done.stdout
    assert "radiomics-gbm: reproduced: auc 0.9120" in done.stdout
    assert "6.0 s before t=  33.0 s" in done.stdout  # the longest silence, measured


def test_a_silence_longer_than_the_limit_fails_and_is_named(tmp_path):
    lines = [(at + (12.0 if at >= 14.0 else 0.0), text) for at, text in GOOD]  # 9 s -> 26 s
    done = _check(_write(tmp_path / "demo.txt", lines))
    assert done.returncode == 1
    failure = "FAIL: a silence of 17.0 s (more than 10 s) before t=26.0 s: ingest datpark"
    assert failure in done.stdout
    assert _check(tmp_path / "demo.txt", "--max-gap", "20").returncode == 0


def test_a_reproduction_without_its_score_and_verdict_fails(tmp_path):
    lines = [item for item in GOOD if not item[1].startswith("sbr-logistic: within noise")]
    done = _check(_write(tmp_path / "demo.txt", lines))
    assert done.returncode == 1
    assert "reproduction of sbr-logistic: no line with its score and verdict" in done.stdout
    # a team named on the command line must show even when its start was not printed
    done = _check(_write(tmp_path / "all.txt", GOOD), "--teams", "cnn-saliency")
    assert done.returncode == 1 and "reproduction of cnn-saliency" in done.stdout


def test_the_per_stage_times_must_end_the_log(tmp_path):
    without = [item for item in GOOD if "Time per stage" not in item[1]]
    done = _check(_write(tmp_path / "none.txt", without))
    assert done.returncode == 1 and "no per-stage times at the end" in done.stdout
    later = [*GOOD, *((42.0 + i, f"more output {i}") for i in range(5))]
    done = _check(_write(tmp_path / "later.txt", later))
    assert done.returncode == 1 and "not at the end: 5 line(s) follow them" in done.stdout
    no_total = [item for item in GOOD if "all portal commands" not in item[1]]
    done = _check(_write(tmp_path / "total.txt", no_total))
    assert done.returncode == 1 and "not the total" in done.stdout


def test_clock_stamped_logs_are_read_too(tmp_path):
    # `ts -s` style (elapsed clock) and ISO date-times, each line stamped at its start
    clock = "".join(
        f"{int(at) // 3600:02d}:{int(at) % 3600 // 60:02d}:{int(at) % 60:02d} {text}\n"
        for at, text in GOOD
    )
    (tmp_path / "ts.txt").write_text(clock, encoding="utf-8")
    assert _check(tmp_path / "ts.txt").returncode == 0
    iso = "".join(f"2026-12-03T23:59:{int(at):02d} {text}\n" for at, text in GOOD[:3])
    iso += "".join(f"2026-12-04T00:00:{int(at):02d} {text}\n" for at, text in GOOD[3:])
    (tmp_path / "iso.txt").write_text(iso, encoding="utf-8")
    done = _check(tmp_path / "iso.txt")
    assert done.returncode == 1  # 23:59:09 -> 00:00:14 is a 65 s silence, across midnight
    assert "a silence of 65.0 s" in done.stdout


def test_a_line_without_a_time_stamp_is_named_in_one_line(tmp_path):
    (tmp_path / "raw.txt").write_text("     0.0  start\nplain make output\n", encoding="utf-8")
    done = _check(tmp_path / "raw.txt")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "line 2: no time stamp" in done.stderr and "ts -s" in done.stderr
    assert "Traceback" not in done.stderr


def test_running_a_command_stamps_and_checks_its_output(tmp_path):
    script = (
        "import time\n"
        "print('reproducing t1 on datpark 1.0.0', flush=True)\n"
        "time.sleep(0.6)\n"
        "print('t1: reproduced: auc 0.9000 (official 0.9000) in 1 s', flush=True)\n"
        "print('Time per stage (portal commands):')\n"
        "print('  portal reproduce datpark t1    0.6 s')\n"
        "print('  all portal commands            0.6 s')\n"
    )
    log = tmp_path / "run.txt"
    base = [sys.executable, "-m", "bench.demo_log", "--log", str(log)]
    done = subprocess.run(
        [*base, "--max-gap", "5", "--", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(log.read_text().splitlines()) == 5
    done = subprocess.run(
        [*base, "--max-gap", "0.3", "--", sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "FAIL: a silence of" in done.stdout
