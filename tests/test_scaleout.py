"""The scale-out column, against real servers on 127.0.0.1 (``pytest -m integration``).

SeaweedFS (S3 gateway), PostgreSQL and ``mlflow server`` start once for this
module and stop at its end. Against them: a release published to S3 and
verified, pushed with DVC and pulled into a fresh clone, two reproductions
running at once that both land in the tracking server, a server restart that
loses nothing, and no secret in any file, log or run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import servers
from tests.conftest import challenge_project, tree_hashes
from tests.fixture_teams import set_official, write_team

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BUCKET = "portal-data"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="git is needed"),
    pytest.mark.skipif(
        not Path("/usr/bin/python3").exists(), reason="team environments need Debian's python3"
    ),
]

TRANSCRIPT: list[str] = []  # every command's output, searched for secrets at the end


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any credential or tracking address."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "MLFLOW_", "PG", "HF_")) and k != "PORTAL_DEID_KEY"
    }
    env.update(
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
    )
    env.update(extra)
    return env


def run(*args: str, cwd: Path, env: dict[str, str], ok: bool = True, secret: str = ""):
    """Run a command; its output joins the transcript, its command line too unless it
    carries ``secret`` (the test's own doing, not the tool's)."""
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    shown = " ".join(args).replace(secret, "<secret>") if secret else " ".join(args)
    TRANSCRIPT.append(f"$ {shown}\n{done.stdout}\n{done.stderr}")
    if ok:
        assert done.returncode == 0, (
            f"{' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    started = []
    try:
        store = servers.start_seaweedfs(folder)
        # SeaweedFS drains for 20 s on SIGTERM; its data is thrown away here anyway
        started.append(lambda: store.service.stop(grace=2))
        store.make_bucket(BUCKET)
        db = servers.start_postgres(folder)
        started.append(lambda: servers.stop_postgres(db))
        tracking = servers.start_mlflow(folder, db, store, BUCKET)
        started.append(lambda: stack_state["mlflow"].service.stop())
        stack_state = {"store": store, "db": db, "mlflow": tracking, "folder": folder}
        yield stack_state
    finally:
        for stop in reversed(started):
            stop()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A portal project: one small release, two fixture teams with official scores."""
    root = challenge_project(tmp_path_factory.mktemp("project"), exams=40, seed=31)
    for team in ("exact", "drifted"):
        write_team(root, team, team)
    set_official(root, {"exact": (0.8, 0.8), "drifted": (0.8, 0.8)})
    return root


def s3_env(stack) -> dict[str, str]:
    return clean_env(**stack["store"].env())


def publish(project: Path, stack, *extra: str, ok: bool = True):
    return run(
        "portal",
        "-q",
        "publish",
        "datpark",
        "--version",
        "1.0.0",
        "--to",
        f"s3://{BUCKET}/releases",
        "--endpoint-url",
        stack["store"].endpoint,
        "--json",
        *extra,
        cwd=project,
        env=s3_env(stack),
        ok=ok,
    )


def test_publish_to_s3_is_verified_idempotent_and_resumable(stack, project, tmp_path):
    release = project / "data" / "datpark" / "releases" / "1.0.0"
    first = json.loads(publish(project, stack).stdout)
    files = len(list(p for p in release.rglob("*") if p.is_file()))
    assert first["verified"] and first["uploaded"] == first["files"] == files
    assert first["target"] == f"s3://{BUCKET}/releases/datpark/1.0.0/"

    again = json.loads(publish(project, stack).stdout)
    assert again["uploaded"] == 0 and again["skipped"] == files and again["verified"]

    # an interrupted publish: the seal (manifest.json) and one shard never arrived
    s3 = stack["store"].client()
    prefix = "releases/datpark/1.0.0/"
    shard = next(p.relative_to(release).as_posix() for p in sorted(release.glob("data/*")))
    for key in ("manifest.json", shard):
        s3.delete_object(Bucket=BUCKET, Key=prefix + key)
    resumed = json.loads(publish(project, stack).stdout)
    assert resumed["uploaded"] == 2 and resumed["verified"]
    assert {
        u["path"] for u in json.loads(publish(project, stack, "--dry-run").stdout)["plan"]["upload"]
    } == set()

    # a mirror altered behind the portal's back is refused, then repaired on request
    s3.put_object(Bucket=BUCKET, Key=prefix + "metadata/labels.csv", Body=b"exam_id,label\n")
    refused = publish(project, stack, ok=False)
    assert refused.returncode == 4
    assert "metadata/labels.csv" in refused.stderr and "--repair" in refused.stderr
    repaired = json.loads(publish(project, stack, "--repair").stdout)
    assert repaired["uploaded"] == 1 and repaired["verified"]

    # what a downloader gets from the bucket passes `portal verify`
    mirror = tmp_path / "download"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page["Contents"]:
            dest = mirror / obj["Key"][len(prefix) :]
            dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(BUCKET, obj["Key"], str(dest))
    assert tree_hashes(mirror) == tree_hashes(release)
    run("portal", "verify", str(mirror), cwd=project, env=clean_env())
    log = json.loads((project / "data" / "datpark" / "publications.json").read_text())
    assert [e["uploaded"] for e in log] == [files, 0, 2, 1]


def test_dvc_pushes_to_s3_and_a_fresh_clone_pulls_a_verified_release(stack, project, tmp_path):
    store = stack["store"]
    repo = tmp_path / "repo"
    repo.mkdir()
    env = clean_env()
    run("git", "init", "-q", cwd=repo, env=env)
    run("dvc", "init", "-q", cwd=repo, env=env)
    shutil.copytree(
        project / "data" / "datpark" / "releases", repo / "data" / "datpark" / "releases"
    )
    run("dvc", "add", "-q", "data/datpark/releases/1.0.0", cwd=repo, env=env)
    # the committed configuration names the bucket only: no endpoint, no credential
    run("dvc", "remote", "add", "-d", "hub", f"s3://{BUCKET}/dvc", cwd=repo, env=env)
    run("git", "add", "-A", cwd=repo, env=env)
    run("git", "commit", "-qm", "release 1.0.0", cwd=repo, env=env)
    # origin: everything from the environment
    run("dvc", "push", cwd=repo, env=clean_env(AWS_ENDPOINT_URL=store.endpoint, **store.env()))
    stored = store.client().list_objects_v2(Bucket=BUCKET, Prefix="dvc/")
    assert stored["KeyCount"] > 0

    # a fresh clone, configured by a local (git-ignored) config file instead
    clone = tmp_path / "clone"
    run("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path, env=env)
    for key, value in (
        ("endpointurl", store.endpoint),
        ("access_key_id", store.access_key),
        ("secret_access_key", store.secret_key),
    ):
        run(
            *("dvc", "remote", "modify", "--local", "hub", key, value),
            cwd=clone,
            env=env,
            secret=store.secret_key,
        )
    run("dvc", "pull", cwd=clone, env=env)
    pulled = clone / "data" / "datpark" / "releases" / "1.0.0"
    run("portal", "verify", str(pulled), cwd=clone, env=env)
    assert tree_hashes(pulled) == tree_hashes(project / "data/datpark/releases/1.0.0")
    status = run("git", "status", "--porcelain", "--ignored", cwd=clone, env=env).stdout
    assert ".dvc/config.local" not in run("git", "ls-files", cwd=clone, env=env).stdout
    assert "config.local" not in status.replace("!! .dvc/config.local", "")
    TRANSCRIPT.append(
        "\n".join(
            p.read_text(errors="replace")
            for base in (repo, clone)
            for p in base.rglob("*")
            if p.is_file()
            and ".git/objects" not in str(p)
            and p.name != "config.local"
            and "cache" not in p.parts
        )
    )


def reproduce(project: Path, url: str, team: str) -> subprocess.Popen:
    env = clean_env(MLFLOW_TRACKING_URI=url, PORTAL_ENV_CACHE=str(project / ".portal-envs"))
    return subprocess.Popen(
        ["portal", "-q", "reproduce", "datpark", team, "--no-repeat"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def runs_by_team(url: str) -> dict[str, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("datpark")
    found: dict[str, list] = {}
    for run in client.search_runs([experiment.experiment_id], max_results=100):
        found.setdefault(run.data.tags["team"], []).append(run)
    return found


def check_complete(url: str, project: Path, run) -> None:
    """A run landed completely: finished, scored, and its artifacts readable."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    assert run.info.status == "FINISHED"
    assert "balanced_accuracy" in run.data.metrics and "wall_seconds" in run.data.metrics
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"record.json", "metrics.json", "verdict.json", "logs"} <= names
    local = client.download_artifacts(run.info.run_id, "record.json", str(project / ".dl"))
    record = json.loads(Path(local).read_text())
    assert record["team"] == run.data.tags["team"]


def test_two_reproductions_at_once_both_land_in_the_tracking_server(stack, project):
    url = stack["mlflow"].url
    jobs = {team: reproduce(project, url, team) for team in ("exact", "drifted")}
    for team, job in jobs.items():
        out, _ = job.communicate(timeout=600)
        TRANSCRIPT.append(out)
        assert job.returncode == 0, f"{team}:\n{out[-3000:]}"
    runs = runs_by_team(url)
    assert sorted(runs) == ["drifted", "exact"] and all(len(r) == 1 for r in runs.values())
    for team, (run,) in runs.items():
        check_complete(url, project, run)
        local = json.loads((project / "runs/datpark/1.0.0" / team / "metrics.json").read_text())
        assert run.data.metrics["balanced_accuracy"] == pytest.approx(local["balanced_accuracy"])
        assert (project / "runs/datpark/1.0.0" / team / "mlflow_run.txt").read_text().strip() == (
            run.info.run_id
        )
    # the artifacts went through the server to the object store
    keys = [
        o["Key"]
        for page in stack["store"]
        .client()
        .get_paginator("list_objects_v2")
        .paginate(Bucket=BUCKET, Prefix="mlartifacts/")
        for o in page.get("Contents", [])
    ]
    for (run,) in runs.values():
        assert any(f"/{run.info.run_id}/artifacts/record.json" in k for k in keys)
    assert not (project / "mlflow.db").exists() and not (project / "mlartifacts").exists()


def test_a_restarted_tracking_server_loses_nothing(stack, project):
    url = stack["mlflow"].url
    before = {team: runs[0] for team, runs in runs_by_team(url).items()}
    assert before, "the concurrent test left runs"
    port = int(url.rsplit(":", 1)[1])
    stack["mlflow"].service.stop()
    deadline = time.monotonic() + 30
    while servers.listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    stack["mlflow"] = servers.start_mlflow(
        stack["folder"], stack["db"], stack["store"], BUCKET, port=port
    )
    after = runs_by_team(url)
    for team, run in before.items():
        (same,) = after[team]
        assert same.info.run_id == run.info.run_id
        assert same.data.metrics == run.data.metrics and same.data.params == run.data.params
        check_complete(url, project, same)
    # and the next run, after the restart, lands beside them as the team's second attempt
    job = reproduce(project, url, "exact")
    out, _ = job.communicate(timeout=600)
    TRANSCRIPT.append(out)
    assert job.returncode == 0, out[-3000:]
    exact = sorted(runs_by_team(url)["exact"], key=lambda r: r.info.start_time)
    assert len(exact) == 2
    assert [r.data.tags["attempt"] for r in exact] == ["1", "2"]
    check_complete(url, project, exact[-1])

    # the site reads the same runs through MLFLOW_TRACKING_URI alone
    from portal.core.environ import scoped_environ
    from portal.site.sources import read_runs

    with scoped_environ({"MLFLOW_TRACKING_URI": url}):
        shown = read_runs(project, "datpark")
    assert {key: r.run_id for key, r in shown.items()} == {
        ("exact", "1.0.0"): exact[-1].info.run_id,
        ("drifted", "1.0.0"): before["drifted"].info.run_id,
    }
    assert shown[("exact", "1.0.0")].record["team"] == "exact"


def test_no_secret_reaches_a_file_a_log_or_a_run(stack, project):
    store, db = stack["store"], stack["db"]
    secrets_ = {"S3 secret key": store.secret_key, "database password": db.password}
    texts = {"command output": "\n".join(TRANSCRIPT)}
    for log in (stack["folder"] / "logs").glob("*.log"):
        texts[log.name] = log.read_text(errors="replace")
    for path in project.rglob("*"):
        if path.is_file() and ".portal-envs" not in path.parts and path.suffix != ".parquet":
            texts[str(path.relative_to(project))] = path.read_bytes().decode("latin-1")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=stack["mlflow"].url)
    experiment = client.get_experiment_by_name("datpark")
    for run in client.search_runs([experiment.experiment_id]):
        texts[f"run {run.info.run_id}"] = json.dumps([run.data.params, run.data.tags])
    assert len(texts) > 20
    for what, secret in secrets_.items():
        leaks = [name for name, text in texts.items() if secret in text]
        assert not leaks, f"the {what} appears in {leaks}"
