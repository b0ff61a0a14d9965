"""Re-run a winning solution on a published release, score it, and give a verdict.

``reproduce(challenge, team, version)``:

1. checks the release against its manifest (a run never reads altered data)
   and reads the reference labels of the scoring split;
2. builds or reuses the team's environment (one per requirements hash);
3. runs ``train``, then ``predict`` on each test split, then ``explain``, each
   in the sandbox (no network, read-only release and code, limits), and, to
   check determinism, the whole run a second time;
4. scores the predictions itself (official metric, bootstrap CI, subgroups),
   decides the verdict against the official score, draws the figures;
5. writes everything to ``runs/<challenge>/<version>/<team>/`` (atomically)
   and logs it as one MLflow run.

A failure of the team's code is a ``failed`` verdict with its reason and log
tail, never an exception: one team failing never stops the others.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from portal.core.atomic import atomic_dir, write_text
from portal.core.console import Heartbeat
from portal.errors import ConfigError, EnvironmentBuildError, InputError, VerificationError
from portal.release.cards import card_path, load_card
from portal.release.manifest import verify_release
from portal.reproduce import environments, numerics, plots, tracking
from portal.reproduce.harvest import Caps, harvest
from portal.reproduce.metrics import BINARY_METRICS, METRICS, age_band, hard_case_keys, score
from portal.reproduce.modalities import DicomRelease, Reference, release_reader
from portal.reproduce.records import FINGERPRINT_SHOWN, RunRecord, RunTags, VerdictFile
from portal.reproduce.rules import (
    DERIVED_SUBGROUPS,
    Challenge,
    Subgroup,
    check_against,
    load_challenge,
)
from portal.reproduce.sandbox import (
    Limits,
    RunResult,
    Workspace,
    release_stale_workspaces,
    stop_running,
)
from portal.reproduce.sandbox import run as sandboxed
from portal.reproduce.team import Entry, Team, load_leaderboard, load_team, team_ids
from portal.reproduce.verdict import Verdict, VerdictRecord, decide

PREDICTION_COLUMNS = ["exam_id", "score", "label"]
SALIENCY_FIGURES = 6
CALIBRATION_BINS = 10


@dataclass
class Outcome:
    """What one reproduction gave: the verdict and where everything is."""

    challenge: str
    team: str
    name: str
    version: str
    attempt: int
    verdict: VerdictRecord
    out: Path
    run_id: str | None = None
    public_score: float | None = None
    determinism: dict = field(default_factory=dict)
    wall_seconds: float = 0.0


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_reference(release: Path) -> Reference:
    """A DICOM release's reference (:class:`portal.reproduce.modalities.DicomRelease`)."""
    return DicomRelease().reference(release)


def latest_version(root: Path, challenge: str) -> str:
    from portal.release.versions import published_versions

    versions = published_versions(Path(root) / "data" / challenge / "releases")
    if not versions:
        raise InputError(
            f"no release of {challenge} under data/{challenge}/releases.",
            hint=f"fetch it: `dvc pull data/{challenge}/releases` (from the public remote of "
            ".dvc/config, which `portal site serve` serves on 127.0.0.1:8000 in the organiser's "
            "project; `dvc remote modify --local public url <mirror>` points it elsewhere), "
            "or regenerate the demo data with `dvc repro`, or build one with `portal release`.",
        )
    return versions[-1]


def _command(template: list[str], *, split: str = "", seed: int = 0) -> list[str]:
    return [
        part.replace("{python}", "{env}/bin/python")
        .replace("{split}", split)
        .replace("{seed}", str(seed))
        for part in template
    ]


@dataclass
class _Attempt:
    steps: list[dict] = field(default_factory=list)
    failure: str | None = None
    failed_step: str | None = None
    log_tail: str = ""
    findings: list[str] = field(default_factory=list)
    numerics: dict = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        return sum(step["wall_seconds"] for step in self.steps)

    @property
    def peak_memory_mb(self) -> float:
        return max((step["peak_memory_mb"] for step in self.steps), default=0.0)


def execute(
    team: Team,
    environment: environments.Environment,
    release: Path | dict[str, Path],
    run_dir: Path,
    splits: list[str],
    scoring_split: str,
    *,
    limits: Limits,
    isolate: bool | None = None,
    progress: Callable[[str], None] | None = None,
    setting: str = numerics.PORTABLE,
    explain: bool = True,
    cancel: threading.Event | None = None,
) -> _Attempt:
    """Run the team's entry points in order; stop at the first that fails.

    Every step runs under the numerical ``setting`` (:mod:`portal.reproduce.numerics`), after a
    probe that asks the team's environment which builds, BLAS and kernel levels it holds
    under that setting. In the portable setting, a step whose code overrode a pin (the
    guard's report says so) fails: a team that needs native kernels opts out in
    ``algorithm.yaml``. ``explain`` False leaves the ``explain`` step out (the hardware
    check needs predictions only).

    ``progress`` receives a line when each step starts and every few seconds while it
    runs (``portal reproduce`` prints them: a long step never looks like a hang).
    ``cancel``, once set, starts no further step (an interrupted run beside others).

    The steps share one workspace (capped in bytes and files); what they leave there
    is then harvested into ``run_dir`` (:mod:`portal.reproduce.harvest`): only regular files,
    never through a link, and any other kind of file fails the attempt, named. The
    portal reads nothing of a run but that harvested copy.
    """
    points = team.algorithm.entry_points
    seed = team.algorithm.seeds[0]
    plan = [("train", _command(points.train, seed=seed))]
    plan += [(f"predict-{s}", _command(points.predict, split=s, seed=seed)) for s in splits]
    if points.explain and explain:
        plan.append(("explain", _command(points.explain, split=scoring_split, seed=seed)))
    mounts = {"code": team.folder, "release": release, "env": environment.path}
    attempt = _Attempt()
    attempt.numerics = {"setting": setting, "probe": None, "reports": {}, "overridden": []}
    logs = run_dir.parent / "logs"
    scratch = run_dir.parent / f".{run_dir.name}-workspace"
    with Workspace(scratch, limits) as space:
        probe = sandboxed(
            ["{env}/bin/python", "-c", numerics.PROBE],
            space.path,
            mounts=mounts,
            limits=limits,
            isolate=isolate,
            log=logs / f"{run_dir.name}-numerics.log",
            workspace=space,
            numerics=setting,
        )
        if probe.ok:
            attempt.numerics["probe"] = numerics.read_probe(probe.stdout_tail)
        for name, command in plan:
            if cancel is not None and cancel.is_set():
                attempt.failure, attempt.failed_step = f"{name}: interrupted", name
                break
            if progress:
                progress(f"{team.id} ({run_dir.name}): {name} started")
            beat = Heartbeat(
                lambda seconds, name=name: (
                    progress(f"{team.id} ({run_dir.name}): {name} running, {seconds:.0f} s")
                    if progress
                    else None
                )
            )
            with beat:
                result: RunResult = sandboxed(
                    command,
                    space.path,
                    mounts=mounts,
                    env={"PORTAL_SEED": str(seed)},
                    limits=limits,
                    isolate=isolate,
                    log=logs / f"{run_dir.name}-{name}.log",
                    workspace=space,
                    numerics=setting,
                )
            reports = numerics.read_reports(logs / f"{run_dir.name}-{name}.log")
            attempt.numerics["reports"][name] = reports
            overridden = numerics.overrides(reports, setting)
            attempt.numerics["overridden"] += overridden
            if result.ok and overridden:
                result.failure = (
                    f"the team's code overrode the portable numerical setting "
                    f"({'; '.join(overridden[:3])}); to run on the machine's native kernels, "
                    "opt out in algorithm.yaml (numerics: {portable: false, reason: ...})"
                )
            attempt.steps.append({"step": name, **result.to_dict()})
            if not result.ok:
                attempt.failure = f"{name}: {result.failure}"
                attempt.failed_step = name
                attempt.log_tail = (result.stderr_tail or result.stdout_tail)[-2000:]
                break
        caps = Caps(bytes=limits.write_bytes, files=limits.write_files)
        kept = harvest(space.path, run_dir, caps, skip={"tmp"})
    if not kept.ok and attempt.failure is None:
        shown = "; ".join(kept.findings[:3])
        more = f" (and {len(kept.findings) - 3} more)" if len(kept.findings) > 3 else ""
        attempt.failure = f"untrusted output refused: {shown}{more}"
        attempt.failed_step = "harvest"
    attempt.findings = kept.findings
    return attempt


def read_predictions(
    path: Path,
    expected: list[str],
    index: dict[str, int],
    columns: list[str] | None = None,
    noun: str = "exam",
) -> tuple[list[str], list[int], list]:
    """A team's predictions, checked against the split and the challenge's classes
    (``index``: class name -> number); problems name the row.

    Columns ``columns`` (the rules' ``predictions:``; DICOM: ``exam_id, score, label``):
    the case, its score and its predicted class. With two classes the score is the
    probability of the positive class. With more, it is the predicted class's, and one
    optional ``score_<class>`` column per class gives the scores ROC AUC is computed from:
    the values returned are then one row of class scores per case. ``noun`` names a case
    in messages.
    """
    if not path.exists():
        raise InputError(f"{path.name}: the team's predict step wrote no predictions file.")
    columns = columns or PREDICTION_COLUMNS
    key, score_column, label_column = columns
    rows = _read_rows(path)
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    if header[:3] != columns:
        problems.append(f"header is {header}, expected {columns}")
    by_class = [f"score_{name}" for name in sorted(index, key=index.get)]
    per_class = len(index) > 2 and all(column in header for column in by_class)
    seen: dict[str, tuple[int, object]] = {}
    for number, row in enumerate(rows, start=2):
        exam = row.get(key) or ""
        if exam in seen:
            problems.append(f"row {number}: {noun} {exam} predicted twice")
        if row.get(label_column) not in index:
            shown = row.get(label_column)
            problems.append(f"row {number}: label {shown!r} is not one of {list(index)}")
            continue
        values, wrong = [], []
        for column in by_class if per_class else [score_column]:
            try:
                values.append(float(row.get(column) or ""))
            except ValueError:
                wrong.append(f"row {number}: {column} {row.get(column)!r} is not a number")
        if wrong:
            problems += wrong
            continue
        if not all(math.isfinite(v) for v in values):
            problems.append(f"row {number}: score {values} is not finite")
        seen[exam] = (index[row[label_column]], values if per_class else values[0])
    missing = sorted(set(expected) - set(seen))
    extra = sorted(set(seen) - set(expected))
    if missing:
        problems.append(f"{len(missing)} {noun}(s) of the split not predicted, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} {noun}(s) not in the split, e.g. {extra[:3]}")
    if problems:
        raise InputError(f"{path.name}: {len(problems)} problem(s):", problems=problems[:20])
    return expected, [seen[e][0] for e in expected], [seen[e][1] for e in expected]


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _git(root: Path) -> dict[str, str]:
    def ask(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "unknown"

    commit = ask("rev-parse", "HEAD")
    dirty = ask("status", "--porcelain", "--untracked-files=no")
    return {"git.commit": commit, "git.dirty": str(bool(dirty) and dirty != "unknown").lower()}


def _dvc_lock(root: Path, challenge: str, version: str) -> dict[str, str]:
    lock = Path(root) / "dvc.lock"
    if not lock.exists():
        return {"dvc.lock.sha256": "absent"}
    tags = {"dvc.lock.sha256": hashlib.sha256(lock.read_bytes()).hexdigest()}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    stage = stages.get(f"release@{challenge}-{version}", {})
    for out in stage.get("outs", []):
        tags["dvc.lock.release_md5"] = str(out.get("md5", ""))
    return tags


class Reproduction:
    """Everything one ``portal reproduce`` needs, loaded and checked once."""

    def __init__(self, root: Path, challenge_id: str, version: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.folder = challenge_folder(self.root, challenge_id)
        self.challenge: Challenge = load_challenge(self.folder / "challenge.yaml")
        # the data's schema (classes, splits, fields) is the challenge's data card's
        card = load_card(self.root / card_path(challenge_id)).meta
        self.schema = card.schema
        check_against(self.challenge, self.schema, self.folder / "challenge.yaml")
        self.classes = self.schema.index()
        # what the release looks like (its data_kind): where the truth and the view are
        self.reader = release_reader(
            card.data_kind,
            self.challenge,
            card.task.target,
            self.classes,
            tuple(f.name for f in card.schema.hard_case_fields()),
        )
        self.leaderboard: dict[str, Entry] = load_leaderboard(self.folder / "leaderboard.csv")
        self.version = version or latest_version(self.root, challenge_id)
        self.release = self.root / "data" / challenge_id / "releases" / self.version
        if not (self.release / "manifest.json").exists():
            raise InputError(
                f"release {challenge_id} {self.version} not found at {self.release}.",
                hint=f"fetch it: `dvc pull data/{challenge_id}/releases/{self.version}` (the "
                "public remote of .dvc/config; `portal site serve` serves it on 127.0.0.1:8000 "
                "in the organiser's project), or build it with `portal release`, or pick a "
                "published version.",
            )
        checked = verify_release(self.release)
        if not checked.ok:
            raise VerificationError(
                f"release {self.version} does not match its manifest; no team runs on it.",
                problems=[*checked.missing, *checked.extra, *(a["path"] for a in checked.altered)],
                hint="restore it with `dvc checkout` or `dvc pull`.",
            )
        self.content_hash = checked.content_hash
        self.reference = self.reader.reference(self.release)
        scoring = self.reference.exams(self.challenge.scoring_split)
        withheld = [e for e in scoring if not self.reference.labels.get(e)]
        if not scoring or withheld:
            raise ConfigError(
                f"release {self.version} holds no labels for {len(withheld)} exam(s) of the "
                f"scoring split {self.challenge.scoring_split}.",
                hint="a sequestered split is scored inside the organiser's environment, "
                "on a release that includes its labels.",
            )
        self.ceiling = sandbox_ceiling(self.root)
        release_stale_workspaces()

    def limits_for(self, team: Team) -> tuple[Limits, list[str]]:
        """The team's request, bounded by the organiser's ceiling; and what was lowered."""
        asked = team.algorithm.resources
        ceiling = self.ceiling
        lowered = []
        pairs = (
            ("cpu_seconds", asked.cpu_seconds, ceiling.cpu_seconds),
            ("memory_gb", asked.memory_gb, ceiling.memory_gb),
            ("wall_seconds", asked.wall_seconds, ceiling.wall_seconds),
        )
        for name, wanted, most in pairs:
            if wanted > most:
                lowered.append(f"{name}: asked {wanted:g}, the organiser's ceiling is {most:g}")
        limits = Limits(
            cpu_seconds=int(min(asked.cpu_seconds, ceiling.cpu_seconds)),
            memory_bytes=int(min(asked.memory_gb, ceiling.memory_gb) * 1024**3),
            wall_seconds=min(asked.wall_seconds, ceiling.wall_seconds),
            processes=ceiling.processes,
            write_bytes=int(ceiling.write_gb * 1024**3),
            write_files=ceiling.write_files,
        )
        return limits, lowered

    def release_view(self) -> dict[str, Path]:
        """What team steps see of the release: training labels only (``reproduce.view``)."""
        return self.reader.training_view(
            self.release,
            self.root / ".portal-cache",
            self.content_hash,
            list(self.challenge.training_splits),
        )

    @property
    def predicted_splits(self) -> list[str]:
        splits = {p.split for p in self.challenge.phases} | {self.challenge.scoring_split}
        return sorted(s for s in splits if s not in self.challenge.training_splits)

    def team(self, team_id: str) -> Team:
        if not (self.folder / team_id / "algorithm.yaml").exists():
            raise ConfigError(
                f"no team {team_id!r} under reproduce/{self.challenge.id}/.",
                hint=f"teams: {', '.join(team_ids(self.folder)) or 'none'}.",
            )
        team = load_team(self.folder / team_id)
        if team_id not in self.leaderboard:
            raise ConfigError(
                f"team {team_id} is not on reproduce/{self.challenge.id}/leaderboard.csv.",
                hint="a team is reproduced against its official score; add its row first.",
            )
        return team

    def run(
        self,
        team_id: str,
        *,
        repeat: bool = True,
        isolate: bool | None = None,
        progress: Callable[[str], None] | None = None,
        hardware_check: bool = True,
    ) -> Outcome:
        """Reproduce one team. ``repeat`` runs it a second time under the same setting
        (same bytes twice?); ``hardware_check`` re-runs its scoring steps (train, predict
        the scoring split) under the other numerical setting, native kernels against
        portable ones, for the hardware-noise band."""
        self.progress = progress
        self.hardware_check = hardware_check
        team = self.team(team_id)
        entry = self.leaderboard[team_id]
        out = self.root / "runs" / self.challenge.id / self.version / team_id
        client, _uri = tracking.client_for(self.root)
        experiment = tracking.experiment_id(
            client, self.challenge.id, self.root, tracking.tracking_uri(self.root)
        )
        attempt_number = tracking.next_attempt(client, experiment, team_id, self.version)
        started = time.perf_counter()
        with atomic_dir(out, overwrite=True) as tmp:
            outcome = self._run_in(tmp, team, entry, attempt_number, repeat, isolate)
            outcome.wall_seconds = round(time.perf_counter() - started, 2)
            self._log(tmp, outcome, team)
        outcome.out = out
        # beside the run folder, for `dvc metrics show` (a DVC output cannot hold another)
        write_text(out.parent / f"{team_id}.metrics.json", (out / "metrics.json").read_text())
        return outcome

    def _run_in(
        self, tmp: Path, team: Team, entry: Entry, number: int, repeat: bool, isolate
    ) -> Outcome:
        limits, lowered = self.limits_for(team)
        scoring = self.challenge.scoring_split
        chosen = team.algorithm.numerics
        setting = numerics.PORTABLE if chosen.portable else numerics.NATIVE
        record: dict = {
            "hardware": numerics.host(),
            "numerics": {
                "setting": setting,
                "opted_out": not chosen.portable,
                "reason": chosen.reason,
                "pins": numerics.pins(setting),
                "in_process": numerics.IN_PROCESS if setting == numerics.PORTABLE else {},
            },
            "hardware_check": {"checked": False},
            "environment": None,
            "attempts": {},
            "limits": {**asdict(limits), "lowered_by_organiser": lowered},
            "untrusted_output": {},
        }
        failure = log_tail = None
        environment = None
        try:
            say = self.progress
            building = Heartbeat(
                lambda seconds: (
                    say(f"{team.id}: building its environment, {seconds:.0f} s") if say else None
                ),
                every=10,
            )
            with building:
                environment = environments.ensure(
                    team.requirements, environments.cache_dir(self.root)
                )
            (tmp / "environment.txt").write_text(environment.freeze)
            record["environment"] = {
                "requirements_hash": environment.requirements_hash,
                "reused": environment.reused,
            }
        except EnvironmentBuildError as error:
            failure = f"environment: {error.message}"
            log_tail = "\n".join(error.problems)
        first = second = third = None
        if environment is not None:
            args = (team, environment, self.release_view())
            first = execute(
                *args,
                tmp / "run",
                self.predicted_splits,
                scoring,
                limits=limits,
                isolate=isolate,
                progress=self.progress,
                setting=setting,
            )
            record["attempts"]["first"] = first.steps
            record["numerics"].update(
                {k: first.numerics[k] for k in ("probe", "reports", "overridden")}
            )
            record["untrusted_output"]["first"] = first.findings
            failure, log_tail = first.failure, first.log_tail
            if first.failure is None:
                second, third = self._checks(tmp, args, limits, isolate, setting, repeat)
            if second is not None:
                record["attempts"]["repeat"] = second.steps
                record["untrusted_output"]["repeat"] = second.findings
                hostile = second.findings or any(
                    step["network_attempts"] or step["forbidden_calls"] for step in second.steps
                )
                if hostile and second.failure:  # the repeat is run by the same hostile code
                    failure, log_tail = f"repeat {second.failure}", second.log_tail
        determinism = self._determinism(tmp, second)
        if third is not None and failure is not None:
            # the repeat failed the team: no hardware check is made of a failed run. What
            # that attempt produced is dropped, but what it tried (network, forbidden
            # calls, hostile output) is evidence: its steps, findings and logs are kept.
            shutil.rmtree(tmp / "hardware", ignore_errors=True)
            record["attempts"]["hardware"] = third.steps
            record["untrusted_output"]["hardware"] = third.findings
            record["hardware_check"]["discarded"] = (
                "run beside the repeat, which failed the team: not used for the check"
            )
            third = None
        if third is not None:
            record["attempts"]["hardware"] = third.steps
            record["untrusted_output"]["hardware"] = third.findings
            record["hardware_check"]["numerics"] = third.numerics
        interval = scores = public = None
        if failure is None:
            try:
                scores = self._score(tmp / "run" / "predictions" / f"{scoring}.csv", scoring)
                interval = scores.official
                public = self._public_score(tmp)
            except InputError as error:
                failure = f"predictions: {error.message} {'; '.join(error.problems)}"
        verdict = decide(entry.private_score, interval, self.challenge.tolerance, failure)
        if third is not None and interval is not None:
            check = self._hardware_band(tmp, third, setting, interval.estimate, entry)
            record["hardware_check"].update(check)
            verdict = replace(verdict, reason=f"{verdict.reason}; {check['sentence']}")
        outcome = Outcome(
            self.challenge.id,
            team.id,
            team.algorithm.team,
            self.version,
            number,
            verdict,
            tmp,
            public_score=public,
            determinism=determinism,
        )
        record["explanations_refused"] = self._figures(tmp, scores, team)
        self._write_record(tmp, outcome, team, entry, scores, record, log_tail, first)
        self._tidy(tmp)
        return outcome

    def _checks(
        self, tmp: Path, args: tuple, limits: Limits, isolate, setting: str, repeat: bool
    ) -> tuple[_Attempt | None, _Attempt | None]:
        """After a first attempt that succeeded: the repeat (same setting, whole run) and
        the hardware check (the other setting, the scoring split's predictions), side by
        side when the machine has two processors or more (each step is single-threaded in
        both settings: ``numerics.PINS``), else one after the other. Each is its own
        attempt: own workspace, logs, limits and measured usage."""
        scoring = self.challenge.scoring_split
        runs: dict[str, Callable[[threading.Event | None], _Attempt]] = {}
        if repeat:
            runs["repeat"] = lambda cancel: execute(
                *args,
                tmp / "repeat",
                self.predicted_splits,
                scoring,
                limits=limits,
                isolate=isolate,
                progress=self.progress,
                setting=setting,
                cancel=cancel,
            )
        if self.hardware_check:
            runs["hardware"] = lambda cancel: execute(
                *args,
                tmp / "hardware",
                [scoring],
                scoring,
                limits=limits,
                isolate=isolate,
                progress=self.progress,
                setting=numerics.other(setting),
                explain=False,
                cancel=cancel,
            )
        if len(runs) < 2 or not side_by_side(limits):
            done = {name: work(None) for name, work in runs.items()}
            return done.get("repeat"), done.get("hardware")
        cancel = threading.Event()
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            started = {name: pool.submit(work, cancel) for name, work in runs.items()}
            try:
                done = {name: future.result() for name, future in started.items()}
            except BaseException:  # interrupted (or one failed): stop the other too
                cancel.set()
                stop_running()
                raise
        return done.get("repeat"), done.get("hardware")

    def _determinism(self, tmp: Path, second: _Attempt | None) -> dict:
        if second is None:
            return {"checked": False, "identical": None}
        if second.failure:
            return {"checked": True, "identical": False, "reason": f"repeat {second.failure}"}
        files = {}
        for split in self.predicted_splits:
            a = _sha256(tmp / "run" / "predictions" / f"{split}.csv")
            b = _sha256(tmp / "repeat" / "predictions" / f"{split}.csv")
            files[split] = {"first": a, "repeat": b, "identical": a is not None and a == b}
        return {
            "checked": True,
            "identical": all(f["identical"] for f in files.values()),
            "predictions": files,
        }

    def _hardware_band(
        self, tmp: Path, third: _Attempt, setting: str, estimate: float, entry: Entry
    ) -> dict:
        """The scoring split predicted under both settings: are the bytes the same, and
        how far apart are the official metric's values (the hardware-noise band)?"""
        split = self.challenge.scoring_split
        metric = self.challenge.metric.official
        check_setting = numerics.other(setting)
        a = _sha256(tmp / "run" / "predictions" / f"{split}.csv")
        result: dict = {
            "checked": True,
            "settings": {"run": setting, "check": check_setting},
            "predictions": {setting: a},
        }
        if third.failure:
            result.update({"identical": None, "failure": third.failure})
            result["sentence"] = (
                f"hardware check not possible: the {check_setting} run failed ({third.failure})"
            )
            return result
        path = tmp / "hardware" / "predictions" / f"{split}.csv"
        b = _sha256(path)
        result["predictions"][check_setting] = b
        try:
            exams, predicted, values = self._predictions(path, split)
        except InputError as error:
            result.update({"identical": False, "failure": error.message})
            result["sentence"] = f"hardware check: the {check_setting} predictions are unusable"
            return result
        truth = [self.classes[self.reference.labels[e]] for e in exams]
        other_score = METRICS[metric](truth, predicted, values)
        low, high = sorted((estimate, other_score))
        official = entry.private_score
        inside = low - 1e-12 <= official <= high + 1e-12
        result.update(
            {
                "identical": a == b,
                "scores": {setting: estimate, check_setting: other_score},
                "band": [low, high],
                "spread": high - low,
                "official_in_band": inside,
            }
        )
        if a == b:
            result["sentence"] = (
                f"not sensitive to hardware: {check_setting} and {setting} kernels gave the "
                "same predictions, byte for byte"
            )
        else:
            where = "inside" if inside else "outside"
            result["sentence"] = (
                f"sensitive to hardware: {check_setting} kernels give other predictions "
                f"({metric} {other_score:.4f} against {estimate:.4f} under {setting}); "
                f"hardware-noise band [{low:.4f}, {high:.4f}], spread {high - low:.4f}; "
                f"the official score {official:.4f} lies {where} it"
            )
        return result

    def _predictions(self, path: Path, split: str):
        """A predictions file of ``split``, checked (:func:`read_predictions`)."""
        named = self.challenge.predictions
        return read_predictions(
            path, self.reference.exams(split), self.classes, named.columns, named.noun
        )

    def _score(self, path: Path, split: str):
        ref = self.reference
        exams, predicted, values = self._predictions(path, split)
        truth = [self.classes[ref.labels[e]] for e in exams]
        groups = {
            (s if isinstance(s, str) else s.name): self._groups(s, exams)
            for s in self.challenge.subgroups
        }
        rules = self.challenge
        extra = [m for m in rules.metric.secondary if m in BINARY_METRICS]
        calibrated = "calibration_curve" in rules.secondary_plots
        if "brier_score" in extra or calibrated:  # they read the scores as probabilities
            outside = [
                (case, value)
                for case, value in zip(exams, values, strict=True)
                if not all(0.0 <= v <= 1.0 for v in (value if isinstance(value, list) else [value]))
            ]
            if outside:
                case, value = outside[0]
                raise InputError(
                    f"{path.name}: {len(outside)} score(s) outside [0, 1], e.g. {case}: {value}; "
                    "the Brier score and the calibration curve need probabilities.",
                )
        hard_cases = {
            hard_case_keys(f): [ref.fields[e].get(f.name, "").lower() == "true" for e in exams]
            for f in self.schema.hard_case_fields()
        }
        return score(
            truth,
            predicted,
            values,
            classes=sorted(self.classes, key=self.classes.get),
            official_metric=self.challenge.metric.official,
            groups=groups,
            hard_cases=hard_cases,
            resamples=self.challenge.bootstrap.resamples,
            seed=self.challenge.bootstrap.seed,
            extra=extra,
            calibration_bins=CALIBRATION_BINS if calibrated else None,
        )

    def _groups(self, name: str | Subgroup, exams: list[str]) -> list[str]:
        """Each case's group for one subgroup of the rules (``?`` when unknown)."""
        ref = self.reference
        if isinstance(name, Subgroup):  # a column of the case table, as released
            return [ref.clinical.get(e, {}).get(name.column) or "?" for e in exams]
        if name in DERIVED_SUBGROUPS:  # age_band, from the contract's age column
            ages = [ref.clinical.get(e, {}).get(DERIVED_SUBGROUPS[name]) for e in exams]
            return [age_band(float(a)) if a else "?" for a in ages]
        declared = self.schema.field(name)
        if declared is not None and declared.table == "labels":
            values = [ref.fields[e].get(name, "") for e in exams]
        else:
            values = [ref.clinical.get(e, {}).get(name, "") for e in exams]
        if declared is not None and declared.type == "boolean":
            return [declared.shown(v.lower() == "true") for v in values]
        return [v or "?" for v in values]

    def _public_score(self, tmp: Path) -> float | None:
        phases = [p.split for p in self.challenge.phases if p.split != self.challenge.scoring_split]
        for split in phases:
            path = tmp / "run" / "predictions" / f"{split}.csv"
            if path.exists():
                exams, predicted, values = self._predictions(path, split)
                truth = [self.classes[self.reference.labels[e]] for e in exams]
                return METRICS[self.challenge.metric.official](truth, predicted, values)
        return None

    def _figures(self, tmp: Path, scores, team: Team) -> list[str]:
        """The ROC curve, the confusion matrix, the calibration curve if the rules ask for
        it, and the first explanation maps (saliency over an image for DICOM, attributions
        over time for tables); returns the explanation files refused (named after no case
        of the split, or not the small 2-D arrays the contract asks for), left undrawn."""
        figures = tmp / "figures"
        figures.mkdir()
        if scores is not None:
            title = f"{team.algorithm.team}, {self.challenge.scoring_split}"
            if scores.roc:  # two classes
                plots.roc(scores.roc, scores.metrics["roc_auc"], title, figures / "roc.png")
            plots.confusion(scores.confusion, title, figures / "confusion.png")
            if scores.calibration is not None:
                brier = scores.metrics.get("brier_score")
                plots.calibration(scores.calibration, brier, title, figures / "calibration.png")
        exams = set(self.reference.exams(self.challenge.scoring_split))
        noun = self.challenge.predictions.noun
        tabular = self.reader.kind == "tabular"
        refused, drawn = [], 0
        for npz in sorted((tmp / "run" / "explanations").glob("*.npz")):
            if drawn == SALIENCY_FIGURES:
                break
            if npz.stem not in exams:
                article = "an" if noun[:1] in "aeiou" else "a"
                refused.append(f"{npz.name}: not named after {article} {noun} of the scoring split")
                continue
            try:
                if tabular:
                    signals, weight = plots.read_attributions(npz)
                else:
                    image, weight = plots.read_explanation(npz)
            except ValueError as error:
                refused.append(f"{npz.name}: {error}")
                continue
            label = self.reference.labels.get(npz.stem, "?")
            caption = f"{npz.stem} ({label})"
            if tabular:
                plots.attributions(
                    signals, weight, figures / f"attributions-{npz.stem}.png", caption
                )
            else:
                plots.saliency(image, weight, figures / f"saliency-{npz.stem}.png", caption)
            drawn += 1
        return refused

    def _write_record(self, tmp, outcome, team, entry, scores, record, log_tail, first) -> None:
        v = outcome.verdict
        official = self.challenge.metric.official
        metrics = {
            f"reproduced_{official}": v.reproduced,
            f"official_{official}": v.official,
            "difference": v.difference,
            "ci_low": v.ci[0] if v.ci else None,
            "ci_high": v.ci[1] if v.ci else None,
            "public_score": outcome.public_score,
            "official_public_score": entry.public_score,
        }
        if scores is not None:
            metrics.update({k: v_ for k, v_ in scores.metrics.items()})
        # metrics.json holds scores only, so the same run gives the same file (and dvc.lock);
        # the cost of the run, the machine and the hardware check (whose native kernels
        # differ between machines) are in record.json and in MLflow
        cost = {
            "wall_seconds": first.wall_seconds if first else None,
            "peak_memory_mb": first.peak_memory_mb if first else None,
        }
        full = {
            "challenge": self.challenge.id,
            "team": team.id,
            "name": team.algorithm.team,
            "title": team.algorithm.title,
            "rank": entry.rank,
            "release": {
                "version": self.version,
                "content_hash": self.content_hash,
                "path": str(self.release.relative_to(self.root)),
            },
            "attempt": outcome.attempt,
            "cost": cost,
            "verdict": v.to_dict(),
            "log_tail": log_tail if v.verdict is Verdict.FAILED else None,
            "determinism": outcome.determinism,
            "algorithm": team.algorithm.model_dump(),
            "scores": scores.to_dict() if scores is not None else None,
            **record,
        }
        RunRecord(**full).write(tmp / "record.json")
        VerdictFile(
            team=team.id,
            name=team.algorithm.team,
            version=self.version,
            attempt=outcome.attempt,
            determinism=outcome.determinism.get("identical"),
            **v.to_dict(),
            numerics=record["numerics"]["setting"],
            numerics_reason=record["numerics"]["reason"],
            hardware_sensitive=_sensitive(record["hardware_check"]),
            hardware_band=record["hardware_check"].get("band"),
            hardware={
                **{k: record["hardware"].get(k) for k in FINGERPRINT_SHOWN},
                "libraries": _libraries(record["numerics"].get("probe")),
            },
        ).write(tmp / "verdict.json")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")

    def _tidy(self, tmp: Path) -> None:
        """Keep what a reader checks: predictions, model, explanations, logs; not scratch."""
        for name in ("repeat", "hardware"):  # their predictions are the proof; models copies
            extra = tmp / name
            if extra.exists():
                for child in extra.iterdir():
                    if child.name != "predictions":
                        shutil.rmtree(child) if child.is_dir() else child.unlink()

    def _log(self, tmp: Path, outcome: Outcome, team: Team) -> None:
        record = RunRecord.read(tmp / "record.json").model_dump(mode="json")
        metrics = {**json.loads((tmp / "metrics.json").read_text()), **record["cost"]}
        seeds = team.algorithm.seeds
        environment = record.get("environment") or {}
        setting = record["numerics"]["setting"]
        check = record.get("hardware_check") or {}
        tags = RunTags(
            team=team.id,
            team_name=team.algorithm.team,
            challenge=self.challenge.id,
            release_version=self.version,
            release_content_hash=self.content_hash,
            verdict=outcome.verdict.verdict,
            attempt=str(outcome.attempt),
            deterministic=str(outcome.determinism.get("identical")),
            upstream_repository=team.algorithm.upstream.repository,
            upstream_commit=team.algorithm.upstream.commit,
            numerics=setting,
            numerics_opt_out_reason=record["numerics"].get("reason") or "",
            numerics_libraries=_libraries(record["numerics"].get("probe")),
            numerics_overridden="; ".join(record["numerics"].get("overridden") or []),
            hardware_sensitive=str(_sensitive(check)),
            provenance={
                **_git(self.root),
                **_dvc_lock(self.root, self.challenge.id, self.version),
                **{f"hardware.{k}": _tag(v) for k, v in record["hardware"].items()},
            },
        ).to_tags()
        for name, value in (check.get("scores") or {}).items():
            metrics[f"hardware_{name}_{self.challenge.metric.official}"] = value
        if check.get("band"):
            metrics["hardware_band_low"], metrics["hardware_band_high"] = check["band"]
            metrics["hardware_spread"] = check["spread"]
        run_id, _ = tracking.log_run(
            self.root,
            experiment_name=self.challenge.id,
            run_name=f"{team.id} @ {self.version} #{outcome.attempt}",
            params={
                "team": team.id,
                "release_version": self.version,
                "seeds": ",".join(map(str, seeds)),
                "seed": seeds[0],
                "requirements_hash": environment.get("requirements_hash", "none"),
                "tolerance": self.challenge.tolerance,
                "official_metric": self.challenge.metric.official,
                "scoring_split": self.challenge.scoring_split,
                "bootstrap_resamples": self.challenge.bootstrap.resamples,
                "threads": 1,
                "numerics": setting,
                "hardware_check": str(bool(check.get("checked"))),
                **{f"numerics.{k}": v for k, v in record["numerics"]["pins"].items()},
                **{f"limit_{k}": v for k, v in team.algorithm.resources.model_dump().items()},
            },
            tags=tags,
            metrics=metrics,
            dataset={
                "uri": str(self.release),
                "name": f"{self.challenge.id}-{self.version}",
                "digest": self.content_hash.removeprefix("sha256:")[:32],
                "context": self.challenge.scoring_split,
            },
            artifacts=tmp,
        )
        outcome.run_id = run_id
        (tmp / "mlflow_run.txt").write_text(f"{run_id}\n")


def side_by_side(limits: Limits | None = None) -> bool:
    """Whether a team's repeat and hardware check run at the same time: two processors
    or more usable by this process, and (given the team's limits) the memory for both at
    their caps, their writable space included (it is memory: a tmpfs). Otherwise one
    after the other: an attempt must never fail side by side that would pass alone."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    if usable < 2:
        return False
    if limits is None:
        return True
    return _available_memory() >= 2 * (limits.memory_bytes + limits.write_bytes)


def _available_memory() -> int:
    """MemAvailable of /proc/meminfo, in bytes (0 when it cannot be read: one at a time)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tag(value) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _sensitive(check: dict) -> bool | None:
    """True when the hardware check saw other predictions, None when it did not run."""
    identical = check.get("identical")
    return None if identical is None else not identical


def _libraries(probe: dict | None) -> str:
    """The numerical builds of the team's environment, in one line (from the probe)."""
    if not probe:
        return "not probed"
    parts = []
    torch = probe.get("torch")
    if isinstance(torch, dict):
        parts.append(
            f"torch {torch.get('version')} (capability {torch.get('cpu_capability')}, "
            f"BLAS {torch.get('blas')}, oneDNN {'on' if torch.get('mkldnn_enabled') else 'off'})"
        )
    numpy = probe.get("numpy")
    if isinstance(numpy, dict):
        cores = ", ".join(map(str, numpy.get("openblas_core") or [])) or "?"
        dispatch = ", ".join(map(str, numpy.get("simd_dispatch_enabled") or [])) or "baseline"
        parts.append(
            f"numpy {numpy.get('version')} ({numpy.get('blas')}, core {cores}; SIMD {dispatch})"
        )
    scipy = probe.get("scipy")
    if isinstance(scipy, dict):
        cores = ", ".join(map(str, scipy.get("openblas_core") or [])) or "?"
        parts.append(f"scipy {scipy.get('version')} (OpenBLAS core {cores})")
    parts.append(f"Python {probe.get('python')}")
    return "; ".join(parts)


def sandbox_ceiling(root: Path):
    """The organiser's ceiling (``sandbox:`` in ``params.yaml``), or the defaults."""
    from portal.config import SandboxParams, load_params

    params = Path(root) / "params.yaml"
    return load_params(params).sandbox if params.exists() else SandboxParams()


def challenge_folder(root: Path, challenge: str) -> Path:
    """``reproduce/<challenge>/`` under ``root``; a challenge that is not there is named
    with the folder looked in and the challenges that are."""
    folders = Path(root).resolve() / "reproduce"
    folder = folders / challenge
    if not (folder / "challenge.yaml").is_file():
        known = sorted(p.parent.name for p in folders.glob("*/challenge.yaml"))
        raise ConfigError(
            f"no challenge {challenge!r} in {folders} "
            f"(challenges there: {', '.join(known) or 'none'}).",
            hint="check the spelling; run from the project root (the folder holding "
            "params.yaml and reproduce/) or name it: `portal --project PATH …`. A challenge "
            "with winners has reproduce/<challenge>/challenge.yaml, leaderboard.csv and one "
            "folder per team.",
        )
    return folder


def select_teams(root: Path, challenge: str, teams: list[str] | None = None) -> list[str]:
    """The teams to reproduce: ``teams`` as given, or every team folder of the challenge.
    A misspelt team stops everything before any run, naming the teams there are."""
    folder = challenge_folder(root, challenge)
    known = team_ids(folder)
    unknown = [team for team in teams or [] if team not in known]
    if unknown:
        raise ConfigError(
            f"no team {', '.join(map(repr, unknown))} under {folder}.",
            hint=f"check the spelling; teams: {', '.join(known) or 'none'}.",
        )
    return list(teams or known)


def collect_verdicts(root: Path, challenge: str, version: str | None = None) -> list[dict]:
    """The latest verdict of every team on every (or one) release, from runs/."""
    challenge_folder(root, challenge)
    base = Path(root) / "runs" / challenge
    pattern = f"{version}/*/verdict.json" if version else "*/*/verdict.json"
    rows = [VerdictFile.read(p).row() for p in sorted(base.glob(pattern))]
    return sorted(rows, key=lambda r: (r["version"], r["official"] * -1, r["team"]))
