"""MLflow logging of reproduction runs: one run per (team, release, attempt).

The embedded default is ``sqlite:///mlflow.db`` at the project root, with
artifacts under ``mlartifacts/``; ``MLFLOW_TRACKING_URI`` (a server, another
database) is honoured, and then the server decides where artifacts go.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

DB = "mlflow.db"
ARTIFACTS = "mlartifacts"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(Path(root) / DB).resolve()}"


def _quiet() -> None:
    """MLflow and its database layer speak at INFO; the portal's own output is enough."""
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow  # noqa: F401  (it sets its loggers' levels when imported)

    # MLflow's database layer warns about its own deprecated calls; not the reader's concern.
    warnings.filterwarnings("ignore", module=r"sqlalchemy\..*")
    warnings.filterwarnings("ignore", message=r".*noload.*")

    for name in ("alembic", "mlflow", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)


def experiment_id(client, name: str, root: Path, uri: str) -> str:
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return existing.experiment_id
    location = None
    if uri.startswith("sqlite:"):  # embedded: artifacts beside the database
        location = (Path(root) / ARTIFACTS / name).resolve().as_uri()
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # another reproduction created it meanwhile
        existing = client.get_experiment_by_name(name)
        if existing is None:
            raise
        return existing.experiment_id


def client_for(root: Path):
    _quiet()
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(root)
    return MlflowClient(tracking_uri=uri), uri


def next_attempt(client, experiment: str, team: str, version: str) -> int:
    runs = client.search_runs(
        [experiment],
        filter_string=f"tags.team = '{team}' and tags.release_version = '{version}'",
        max_results=10_000,
    )
    return len(runs) + 1


def log_run(
    root: Path,
    *,
    experiment_name: str,
    run_name: str,
    params: dict,
    tags: dict[str, str],
    metrics: dict[str, float],
    dataset: dict[str, str],
    artifacts: Path,
) -> tuple[str, str]:
    """Log one finished reproduction; returns (run id, tracking URI).

    Only the client API is used: ``mlflow.set_tracking_uri`` would also set
    ``MLFLOW_TRACKING_URI`` for the whole process, and a later run of another
    project would then be logged into this one's store.
    """
    import time

    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import DatasetInput, InputTag, Metric, Param

    client, uri = client_for(root)
    experiment = experiment_id(client, experiment_name, root, uri)
    run = client.create_run(experiment, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            metrics=[
                Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and v == v
            ],
            synchronous=True,
        )
        release = MetaDataset(
            LocalArtifactDatasetSource(dataset["uri"]),
            name=dataset["name"],
            digest=dataset["digest"],
        )
        context = InputTag("mlflow.data.context", dataset.get("context", "scoring"))
        _log_inputs(client, run_id, [DatasetInput(release._to_mlflow_entity(), [context])])
        client.log_artifacts(run_id, str(artifacts))
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id, uri


def _log_inputs(client, run_id: str, inputs: list, attempts: int = 4) -> None:
    """Link the release to the run. The tracking server records a dataset once per
    experiment: when two runs on the same release log it at the same moment, one insert
    loses the race (a unique-key error); the retry then finds the dataset and links it."""
    import time

    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            client.log_inputs(run_id, inputs)
            return
        except MlflowException:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
