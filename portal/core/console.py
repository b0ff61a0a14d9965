"""What the portal prints while it works, so that work never looks like a hang.

At a terminal, a Rich progress bar. Anywhere else (a ``dvc repro`` stage, CI, a log
file) a bar cannot redraw, so :class:`Lines` prints one plain line when a task
starts, then at most every ``every`` seconds while it advances, then when it ends:
what it is doing, how far, and for how long. :class:`Heartbeat` does the same for
work that has no count (a team's step, an environment build): a line every
``every`` seconds until it is done.

``PORTAL_TIMINGS`` (a file path), when set, receives one JSON line per finished
command with its duration: ``make demo`` prints them as its per-stage times.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

EVERY = 5.0


class Lines:
    """The subset of ``rich.progress.Progress`` the commands use, as plain lines."""

    def __init__(self, stream=None, every: float = EVERY, disable: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self.disable = disable
        self.tasks: dict[int, dict] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Lines:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for task in self.tasks.values():
            self._say(task, final=True)

    def _beat(self) -> None:
        """A line per task every ``every`` seconds, advanced or not: silence means a hang."""
        while not self._stop.wait(self.every):
            now = time.monotonic()
            for task in list(self.tasks.values()):
                if now - task["said"] >= self.every / 2:  # not just said (a new step)
                    self._say(task)

    def add_task(self, description: str, total: float | None = None) -> int:
        ident = len(self.tasks)
        now = time.monotonic()
        self.tasks[ident] = {
            "description": description,
            "name": description,  # the last line says the task's name, not its last step
            "total": total,
            "done": 0.0,
            "start": now,
            "said": now,
        }
        self._say(self.tasks[ident], first=True)
        return ident

    def update(
        self,
        ident: int,
        *,
        total: float | None = None,
        description: str | None = None,
        **_ignored,
    ) -> None:
        if total is not None:
            self.tasks[ident]["total"] = total
        if description is not None and description != self.tasks[ident]["description"]:
            self.tasks[ident]["description"] = description
            self._say(self.tasks[ident])  # a new step is news: say it now, not at the beat

    def advance(self, ident: int, amount: float = 1) -> None:
        with self._lock:
            self.tasks[ident]["done"] += amount

    def _say(self, task: dict, *, first: bool = False, final: bool = False) -> None:
        if self.disable:
            return
        task["said"] = time.monotonic()
        elapsed = task["said"] - task["start"]
        if first:
            text = f"{task['description']}: started"
        else:
            total = task["total"]
            count = f"{task['done']:g}" + (f"/{total:g}" if total else "")
            share = f" ({task['done'] / total:.0%})" if total else ""
            state = "done" if final else "working"
            name = task["name"] if final else task["description"]
            text = f"{name}: {state}, {count}{share}, {elapsed:.0f} s"
        with self._lock:
            print(text, file=self.stream, flush=True)


class Heartbeat:
    """A line every ``every`` seconds while a piece of work runs (a context manager)."""

    def __init__(self, say, every: float = EVERY) -> None:
        self.say = say
        self.every = every
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.say(time.monotonic() - self.start)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def record_timing(command: list[str], seconds: float, code: int) -> None:
    """Append one finished command to ``$PORTAL_TIMINGS`` (nothing when unset)."""
    target = os.environ.get("PORTAL_TIMINGS")
    if not target:
        return
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    line = {"command": " ".join(command), "seconds": round(seconds, 2), "exit_code": code}
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def timings_table(path: Path) -> str:
    """The per-stage times of a demo, as aligned text lines."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        with_error = json.loads(line)
        rows.append((with_error["command"], with_error["seconds"], with_error["exit_code"]))
    if not rows:
        return "no command was timed"
    width = max(len(command) for command, _, _ in rows)
    lines = [
        f"  {command:<{width}}  {seconds:7.1f} s" + ("" if code == 0 else f"  (exit {code})")
        for command, seconds, code in rows
    ]
    lines.append(f"  {'all portal commands':<{width}}  {sum(s for _, s, _ in rows):7.1f} s")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m portal.core.console FILE: print the table
    print(timings_table(Path(sys.argv[1])))
