"""Does the demo show its work? Time-stamp every line a command prints, then check the log.

    python -m bench.demo_log [--cwd DIR] [--max-gap 10] [--log FILE] [-- COMMAND ...]
    python -m bench.demo_log --check FILE [--max-gap 10] [--teams A B ...]

The first form runs COMMAND (default ``make demo``) with standard output and error
merged, writes each line with the seconds since the start to FILE (default
``bench/results/demo-log.txt``), then checks that log. The second form only checks
a log written before: by the first form (``   12.3  text``, seconds since the start),
or by any tool that puts a clock time or an ISO date-time at the start of each line
(``ts``, ``ts -s``, ``[10:02:03]``, ``2026-12-03T10:02:03``).

A log passes when

- no silence (seconds between two lines, or from the last line to the end) is longer
  than ``--max-gap`` seconds;
- every reproduction printed its score and verdict on one line
  (``<team>: <verdict>: <metric> <score> (official ...``): each team named by a
  ``reproducing <team> on ...`` line, or by ``--teams``, and at least one such line in all;
- it ends with the time per stage: the ``Time per stage`` heading, one ``<command>
  <seconds> s`` row per timed command, and the total of all portal commands, after
  which at most a few lines follow.

It exits 1 on any failure (or when the command it ran failed), naming each one. Run the
first form in a fresh clone to measure the first-time set-up as well.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERDICTS = ("reproduced", "within noise", "not reproduced", "failed")
#: What ``portal reproduce`` prints once per team (portal.cli._verdict_line).
VERDICT_LINE = re.compile(
    r"^\s*(?P<team>[A-Za-z0-9][\w.-]*): (?P<verdict>" + "|".join(VERDICTS) + r"): "
    r"(?P<metric>[\w.-]+) (?P<score>-?\d+(?:\.\d+)?|none) \(official "
)
STARTED = re.compile(r"reproducing (?P<team>[A-Za-z0-9][\w.-]*) on ")
STAGE_HEADING = "Time per stage"
STAGE_ROW = re.compile(
    r"^\s+(?P<command>\S.*?)\s+(?P<seconds>\d+(?:\.\d+)?) s(?:\s+\(exit \d+\))?$"
)
TOTAL_ROW = "all portal commands"
#: Lines allowed after the per-stage table (a blank line, a closing word).
TAIL_LINES = 3

_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s{2}(.*)$")  # bench.demo_log's own format
_ISO = re.compile(r"^\[?(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)\]?\s?(.*)$")
_CLOCK = re.compile(r"^\[?(\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)\]?\s?(.*)$")
_MONTH = re.compile(r"^([A-Z][a-z]{2} \d{1,2} \d{2}:\d{2}:\d{2})\s?(.*)$")  # ts default


@dataclass
class LogCheck:
    lines: int = 0
    seconds: float = 0.0
    gaps: list[tuple[float, float, str]] = field(default_factory=list)  # gap, at, line
    verdicts: dict[str, str] = field(default_factory=dict)  # team -> the line
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def longest(self, n: int = 5) -> list[tuple[float, float, str]]:
        return sorted(self.gaps, key=lambda g: (-g[0], g[1]))[:n]


def parse_stamped(text: str, source: str = "the log") -> list[tuple[float, str]]:
    """(seconds since the first line, text) for each line of a time-stamped log.

    Raises ``ValueError`` naming the first line that carries no time stamp."""
    parsed: list[tuple[float, str]] = []
    origin: float | None = None
    previous_clock = None
    day = 0.0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        if match := _SECONDS.match(raw):
            at, line = float(match[1]), match[2]
        elif match := _ISO.match(raw):
            at = datetime.fromisoformat(match[1].replace(",", ".")).timestamp()
            line = match[2]
        elif (match := _CLOCK.match(raw)) or (match := _MONTH.match(raw)):
            stamp = match[1].replace(",", ".")
            clock = (
                datetime.strptime(stamp, "%b %d %H:%M:%S")
                if match.re is _MONTH
                else datetime.strptime(stamp, "%H:%M:%S.%f" if "." in stamp else "%H:%M:%S")
            )
            seconds = clock.hour * 3600 + clock.minute * 60 + clock.second + clock.microsecond / 1e6
            if previous_clock is not None and seconds + day < previous_clock - 1:
                day += 86400.0  # the clock passed midnight
            at = seconds + day
            previous_clock = at
            line = match[2]
        else:
            raise ValueError(
                f"{source} line {number}: no time stamp at its start ({raw[:60]!r}); write the "
                "log with `python -m bench.demo_log`, or pipe the demo through `ts -s`"
            )
        if origin is None:
            origin = at
        parsed.append((at - origin, line))
    return parsed


def check_lines(
    lines: list[tuple[float, str]],
    *,
    max_gap: float = 10.0,
    end: float | None = None,
    teams: list[str] | None = None,
) -> LogCheck:
    """Check a demo's output, given as (seconds since the start, line) in order; ``end`` is
    when the command ended (default: the last line)."""
    result = LogCheck(lines=len(lines))
    last = 0.0
    for at, line in lines:
        result.gaps.append((at - last, at, line))
        last = at
    finish = last if end is None else end
    result.gaps.append((finish - last, finish, "(end)"))
    result.seconds = finish
    too_long = [g for g in result.gaps if g[0] > max_gap]
    for gap, at, line in sorted(too_long, key=lambda g: -g[0])[:5]:
        result.failures.append(
            f"a silence of {gap:.1f} s (more than {max_gap:g} s) before t={at:.1f} s: {line[:80]}"
        )
    if len(too_long) > 5:
        result.failures.append(f"{len(too_long) - 5} more silence(s) longer than {max_gap:g} s")

    expected = list(teams or [])
    for _, line in lines:
        if (match := STARTED.search(line)) and match["team"] not in expected:
            expected.append(match["team"])
        if match := VERDICT_LINE.match(line):
            result.verdicts[match["team"]] = line.strip()
    if not result.verdicts:
        result.failures.append(
            "no reproduction printed its score and verdict "
            "(`<team>: <verdict>: <metric> <score> (official ...)`)"
        )
    for team in expected:
        if team not in result.verdicts:
            result.failures.append(f"reproduction of {team}: no line with its score and verdict")

    texts = [line for _, line in lines]
    heading = max((i for i, t in enumerate(texts) if STAGE_HEADING in t), default=None)
    if heading is None:
        result.failures.append(f"no per-stage times at the end (no {STAGE_HEADING!r} heading)")
    else:
        rows = []
        for text in texts[heading + 1 :]:
            if not STAGE_ROW.match(text):
                break
            rows.append(text)
        after = len(texts) - heading - 1 - len(rows)
        if not any(TOTAL_ROW in r for r in rows) or len(rows) < 2:
            result.failures.append(
                f"the per-stage times list no stage, or not the total ({TOTAL_ROW!r})"
            )
        elif after > TAIL_LINES:
            result.failures.append(
                f"the per-stage times are not at the end: {after} line(s) follow them"
            )
    return result


def check_log(path: Path, *, max_gap: float = 10.0, teams: list[str] | None = None) -> LogCheck:
    """Check a time-stamped log file (see the module's documentation)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return check_lines(parse_stamped(text, str(path)), max_gap=max_gap, teams=teams)


def report(result: LogCheck, title: str) -> None:
    print(f"{title}: {result.seconds:.0f} s, {result.lines} lines")
    print("longest silences (seconds without output, then the line that ended it):")
    for gap, at, line in result.longest():
        print(f"  {gap:6.1f} s before t={at:6.1f} s: {line[:100]}")
    for line in result.verdicts.values():
        print(f"  score and verdict: {line[:120]}")
    for failure in result.failures:
        print(f"FAIL: {failure}")
    if result.passed:
        print("OK: no long silence, every reproduction's score and verdict, per-stage times last")


def _run(
    command: list[str], cwd: Path, log_path: Path
) -> tuple[int, list[tuple[float, str]], float]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    lines: list[tuple[float, str]] = []
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    with log_path.open("w", encoding="utf-8") as log:
        for raw in process.stdout:
            now = time.monotonic() - start
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append((now, line))
            log.write(f"{now:8.1f}  {line}\n")
            log.flush()
    code = process.wait()
    return code, lines, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cwd", type=Path, default=ROOT)
    parser.add_argument("--max-gap", type=float, default=10.0)
    parser.add_argument("--log", type=Path, default=ROOT / "bench" / "results" / "demo-log.txt")
    parser.add_argument("--check", type=Path, help="Check this time-stamped log; run nothing.")
    parser.add_argument("--teams", nargs="*", default=[], help="Teams whose verdict must show.")
    parser.add_argument("command", nargs="*", default=["make", "demo"])
    args = parser.parse_args(argv)
    if args.check is not None:
        try:
            result = check_log(args.check, max_gap=args.max_gap, teams=args.teams)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        report(result, str(args.check))
        return 0 if result.passed else 1
    code, lines, seconds = _run(args.command, args.cwd, args.log)
    result = check_lines(lines, max_gap=args.max_gap, end=seconds, teams=args.teams)
    report(result, f"{' '.join(args.command)}: exit {code}")
    print(f"log with time stamps: {args.log}")
    if code != 0:
        print(f"FAIL: the command exited with {code}")
        return 1
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
