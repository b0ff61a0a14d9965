"""Interruptions leave nothing behind: `portal ingest`, `release` and `publish --to dir://`
killed with SIGKILL at random moments (seeded), then checked.

After every kill: what a reader can see (staging, the release, the mirror) is the old
state or the new one, whole; no process the command started is alive one second later.
After the kills: a plain re-run gives the bytes of an uninterrupted run, and no
temporary folder of the killed runs is left.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portal.core.atomic import clean_stale, owner_alive
from portal.synth.export import synthesize
from tests.conftest import ROOT, flip_label, tree_hashes

PORTAL = str(Path(sys.executable).parent / "portal")
KILLS = 5
SEED = 15
KEY = "6b" * 32  # a fixed de-identification key: re-runs give the same bytes

pytestmark = pytest.mark.slow


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PORTAL_DEID_KEY": KEY,
        "PATH": f"{Path(PORTAL).parent}:{os.environ['PATH']}",
    }


def portal(project: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [PORTAL, "--quiet", *args], cwd=project, capture_output=True, text=True, env=env()
    )
    assert done.returncode == 0, f"portal {' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def mentioning(text: str) -> set[int]:
    """Live processes whose command line mentions ``text``."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if text.encode() in handle.read() and owner_alive(int(entry)):
                        found.add(int(entry))
            except OSError:
                continue
    return found


def start(project: Path, args: tuple[str, ...], working) -> tuple[subprocess.Popen, float]:
    """Start ``portal args``; return it once ``working()`` (its work has begun) or it ended,
    with the time that took."""
    began = time.monotonic()
    command = subprocess.Popen(
        [PORTAL, "--quiet", *args],
        cwd=project,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own session: the kill reaches it alone, not its group
    )
    while command.poll() is None and not working():
        time.sleep(0.01)
    return command, time.monotonic() - began


def work_time(project: Path, args: tuple[str, ...], working) -> float:
    """How long the work of an uninterrupted run lasts, from ``working()`` to the end."""
    command, _ = start(project, args, working)
    began = time.monotonic()
    assert command.wait() == 0, f"portal {' '.join(args)} failed"
    return time.monotonic() - began


def kill_during(project: Path, args: tuple[str, ...], working, after: float) -> dict[int, str]:
    """Start ``portal args``, SIGKILL it ``after`` seconds into its work; returns the
    processes it had started that are still alive one second later."""
    command, _ = start(project, args, working)
    time.sleep(after)
    started = descendants(command.pid)
    print(f"kill {args[0]} {after:.2f} s into its work: {len(started)} processes below it")
    command.send_signal(signal.SIGKILL)
    command.wait()
    time.sleep(1.0)
    alive = {pid for pid in started if owner_alive(pid)} | mentioning(str(project))
    return {pid: describe(pid) for pid in alive}


def describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[:2]
        return f"{command[:200]} (state {state[0].decode()}, parent {state[1].decode()})"
    except OSError:
        return "gone"


def project_with_export(root: Path) -> Path:
    project = root / "project"
    (project / "raw").mkdir(parents=True)
    shutil.copytree(ROOT / "data_cards", project / "data_cards")
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    synthesize("datpark", project / "raw" / "datpark", exams=40, seed=3, shape=(16, 32, 32))
    return project


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".build-" in p.name)


def test_the_stale_cleaner_keeps_what_live_processes_are_writing(tmp_path):
    live = tmp_path / f".staging.tmp-{os.getppid()}"
    dead = tmp_path / ".staging.tmp-999999999"
    aside = tmp_path / ".staging.tmp-old-999999998"
    for folder in (live, dead, aside):
        folder.mkdir()
    (aside / "labels.csv").write_text("the previous staging\n")
    assert sorted(clean_stale(tmp_path)) == sorted([aside.name, dead.name])
    assert live.exists() and not dead.exists()
    # an interrupted swap had moved the previous staging aside: it is put back
    assert (tmp_path / "staging" / "labels.csv").read_text() == "the previous staging\n"


def test_killed_ingest_release_and_publish_leave_nothing_behind(tmp_path):
    chance = random.Random(SEED)
    project = project_with_export(tmp_path)
    staging = project / "data" / "datpark" / "staging"
    releases = project / "data" / "datpark" / "releases"
    mirror_root = tmp_path / "mirror"
    mirror = mirror_root / "datpark" / "1.0.0"
    ingest = ("ingest", "datpark", "--workers", "2")
    release = ("release", "datpark", "--version", "1.0.0")
    publish = ("publish", "datpark", "--version", "1.0.0", "--to", f"dir://{mirror_root}")

    # -- ingest: the old staging, then a corrected export whose staging differs ----------
    portal(project, *ingest)
    old = tree_hashes(staging)
    flip_label(project / "raw" / "datpark" / "labels.csv")
    reference = tmp_path / "reference"
    shutil.copytree(project, reference)
    ingesting = lambda: (reference / "data" / "datpark" / ".ingest-work").exists()  # noqa: E731
    duration = work_time(reference, ingest, ingesting)
    new = tree_hashes(reference / "data" / "datpark" / "staging")
    assert new != old
    for _ in range(KILLS):
        working = lambda: (staging.parent / ".ingest-work").exists()  # noqa: E731
        orphans = kill_during(project, ingest, working, chance.uniform(0, 1) * duration)
        assert not orphans, f"ingest left processes alive: {orphans}"
        assert tree_hashes(staging) in (old, new), "a partial staging is visible"
    portal(project, *ingest)
    assert tree_hashes(staging) == new
    assert leftovers(staging.parent) == []

    reference_releases = reference / "data" / "datpark" / "releases"
    # -- release: absent, or whole ------------------------------------------------------------
    building = lambda: any(".build-" in p.name for p in reference_releases.glob(".*"))  # noqa: E731
    duration = work_time(reference, release, building)
    whole = tree_hashes(reference_releases / "1.0.0")
    for _ in range(KILLS):
        working = lambda: any(".build-" in p.name for p in releases.glob(".*"))  # noqa: E731
        orphans = kill_during(project, release, working, chance.uniform(0, 1) * duration)
        assert not orphans, f"release left processes alive: {orphans}"
        if (releases / "1.0.0").exists():
            assert tree_hashes(releases / "1.0.0") == whole, "a partial release is visible"
    portal(project, *release)
    assert tree_hashes(releases / "1.0.0") == whole
    assert leftovers(releases) == [], "stale build folders were not cleaned"

    # -- publish to a folder: absent, whole, or called incomplete by `portal verify` --------
    reference_mirror = tmp_path / "reference-mirror"
    to_reference = (*publish[:-1], f"dir://{reference_mirror}")
    sending = lambda: any(reference_mirror.rglob("*.dcm"))  # noqa: E731
    duration = work_time(reference, to_reference, sending)
    for _ in range(KILLS):
        working = lambda: any(mirror_root.rglob("*.dcm"))  # noqa: E731
        orphans = kill_during(project, publish, working, chance.uniform(0, 1) * duration)
        assert not orphans, f"publish left processes alive: {orphans}"
        if mirror.exists():
            checked = subprocess.run(
                [PORTAL, "verify", str(mirror)], capture_output=True, text=True, env=env()
            )
            said = checked.stdout + checked.stderr
            assert checked.returncode == 0 or "incomplete" in said, said
            if checked.returncode != 0:
                assert "publish" in said, f"the message does not say to publish again: {said}"
    portal(project, *publish)
    assert tree_hashes(mirror) == tree_hashes(reference_mirror / "datpark" / "1.0.0")
    assert tree_hashes(mirror) == whole
    assert [p for p in mirror.rglob("*") if ".tmp-" in p.name] == []
