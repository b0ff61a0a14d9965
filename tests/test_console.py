"""What the portal prints while it works: never a silence longer than a few seconds."""

from __future__ import annotations

import io
import json
import time

from portal.core.console import Heartbeat, Lines, record_timing, timings_table


def test_plain_lines_keep_coming_while_a_task_advances_or_not():
    out = io.StringIO()
    with Lines(stream=out, every=0.1) as bar:
        task = bar.add_task("ingest datpark", total=4)
        bar.advance(task, 1)
        time.sleep(0.45)  # no advance: the line still comes
        bar.advance(task, 3)
    lines = out.getvalue().splitlines()
    assert lines[0] == "ingest datpark: started"
    assert sum("working, 1/4 (25%)" in line for line in lines) >= 3
    assert lines[-1].startswith("ingest datpark: done, 4/4 (100%)")


def test_a_new_step_is_said_at_once_with_the_count():
    out = io.StringIO()
    with Lines(stream=out, every=60) as bar:
        task = bar.add_task("ingest mlkidcar", total=None)
        bar.update(task, total=3)
        bar.advance(task, 1)
        bar.update(task, description="ingest mlkidcar: de-identify (step 2 of 3)")
        bar.update(task, description="ingest mlkidcar: de-identify (step 2 of 3)")  # no news
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("ingest mlkidcar: de-identify (step 2 of 3): working, 1/3 (33%)")
    assert len(lines) == 3 and lines[2].startswith("ingest mlkidcar: done, 1/3")


def test_quiet_lines_print_nothing():
    out = io.StringIO()
    with Lines(stream=out, every=0.05, disable=True) as bar:
        bar.advance(bar.add_task("release", total=None), 5)
        time.sleep(0.2)
    assert out.getvalue() == ""


def test_a_heartbeat_beats_until_the_work_is_done():
    said: list[float] = []
    with Heartbeat(said.append, every=0.05):
        time.sleep(0.33)
    count = len(said)
    time.sleep(0.15)
    assert 4 <= count <= 7 and len(said) == count
    assert said == sorted(said)


def test_timings_are_recorded_only_when_asked_and_tabled(tmp_path, monkeypatch):
    target = tmp_path / "timings.jsonl"
    monkeypatch.delenv("PORTAL_TIMINGS", raising=False)
    record_timing(["portal", "synth"], 1.0, 0)
    assert not target.exists()
    monkeypatch.setenv("PORTAL_TIMINGS", str(target))
    record_timing(["portal", "ingest", "datpark"], 12.345, 0)
    record_timing(["portal", "release", "datpark"], 3.0, 4)
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0] == {"command": "portal ingest datpark", "seconds": 12.35, "exit_code": 0}
    table = timings_table(target).splitlines()
    assert table[0].split() == ["portal", "ingest", "datpark", "12.3", "s"]
    assert table[1].endswith("(exit 4)")
    assert table[-1].split()[-2] == "15.3"
