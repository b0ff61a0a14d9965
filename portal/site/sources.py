"""What the site is made of, read once from the stage before it.

The site reaches back, never forward: data cards (``data_cards/``), the
challenge rules, teams and official leaderboard (``reproduce/``), the published
releases (``data/<challenge>/releases/``) and the reproduction runs, read from
MLflow (the record of truth for every reproduced number). Each value keeps the
file or run it came from, so a page can say where every number is from.
"""

from __future__ import annotations

import csv
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from portal.config import PARAMS_FILE, SiteParams, load_params
from portal.release.cards import Card, card_path, load_card
from portal.release.manifest import Manifest
from portal.release.versions import parse_version, published_versions
from portal.reproduce.rules import Challenge, load_challenge
from portal.reproduce.team import Entry, Team, load_leaderboard, load_team, team_ids


@dataclass
class ReleaseInfo:
    """One published version, as its own files describe it."""

    challenge: str
    version: str
    path: Path
    manifest: Manifest
    raw_manifest: dict
    changes: dict
    changelog: str
    date: str
    files: dict[str, str]  # citation file name -> text
    tables: dict[str, list[dict[str, str]]]  # metadata/<name>.csv rows
    mirrors: list[dict] = field(default_factory=list)  # verified publications of this content

    @property
    def content_hash(self) -> str:
        return self.raw_manifest["content_hash"]

    @property
    def total_bytes(self) -> int:
        return int(self.raw_manifest["total_bytes"])

    @property
    def file_count(self) -> int:
        return int(self.raw_manifest["file_count"])


@dataclass
class RunInfo:
    """The latest finished MLflow run of one team on one release."""

    team: str
    version: str
    run_id: str
    experiment_id: str
    run_name: str
    start_time: int
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    record: dict
    environment: str
    figures: dict[str, bytes]  # file name -> PNG bytes, from the run's figures/ artifacts
    tracking_uri: str
    #: the first explanation files of the team's ``explain`` step (``run/explanations/``,
    #: file name -> bytes), for runs the reproduction drew no saliency figure of: the
    #: site draws them with the modality's figure code (attributions over time)
    explanations: dict[str, bytes] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return self.tags.get("verdict", "unknown")


@dataclass
class TeamInfo:
    team: Team
    model_card: str
    official: Entry | None


@dataclass
class ChallengeInfo:
    id: str
    title: str
    card: Card
    card_path: Path
    rules: Challenge | None
    teams: list[TeamInfo]
    releases: list[ReleaseInfo]  # oldest first
    runs: dict[tuple[str, str], RunInfo] = field(default_factory=dict)
    #: set by a translation of the card: its words for the schema's classes and flags
    vocabulary: dict[str, str] = field(default_factory=dict)
    missing_translation: list[str] = field(default_factory=list)

    @property
    def latest(self) -> ReleaseInfo | None:
        return self.releases[-1] if self.releases else None


@dataclass
class Sources:
    root: Path
    site: SiteParams
    challenges: list[ChallengeInfo]


#: How many of a run's explanation files the site reads (and a report draws).
EXPLANATIONS = 4

#: The citation records the cite page shows as text (croissant.json is linked, not shown).
CITATIONS = ("citation.bib", "CITATION.cff", "datacite.json")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_release(folder: Path, challenge: str) -> ReleaseInfo:
    folder = Path(folder)
    raw = json.loads((folder / "manifest.json").read_text("utf-8"))
    cff = yaml.safe_load((folder / "CITATION.cff").read_text("utf-8"))
    tables = {p.stem: _read_csv(p) for p in sorted((folder / "metadata").glob("*.csv"))}
    return ReleaseInfo(
        challenge=challenge,
        version=raw["version"],
        path=folder,
        manifest=Manifest.from_dict(raw),
        raw_manifest=raw,
        changes=json.loads((folder / "changes.json").read_text("utf-8")),
        changelog=(folder / "CHANGELOG.md").read_text("utf-8"),
        date=str(cff.get("date-released", "")),
        files={name: (folder / name).read_text("utf-8") for name in CITATIONS},
        tables=tables,
        mirrors=read_mirrors(folder.parent.parent, raw["version"], raw["content_hash"]),
    )


def read_mirrors(data: Path, version: str, content_hash: str) -> list[dict]:
    """The targets ``portal publish`` verified this exact content at, latest check first:
    from ``data/<challenge>/publications.json``."""
    log = data / "publications.json"
    if not log.exists():
        return []
    latest: dict[str, dict] = {}
    for entry in json.loads(log.read_text("utf-8")):
        if (
            entry.get("verified")
            and not entry.get("dry_run")
            and entry.get("version") == version
            and entry.get("content_hash") == content_hash
        ):
            latest[entry["target"]] = entry
    return sorted(latest.values(), key=lambda e: e["at"], reverse=True)


def read_runs(
    root: Path, challenge: str, *, artifacts: bool = True
) -> dict[tuple[str, str], RunInfo]:
    """The latest FINISHED run of each (team, release) in the challenge's experiment;
    ``artifacts=False`` skips the downloads (record, freeze, figures) for callers that
    only need ids and metrics."""
    from portal.reproduce import tracking

    client, uri = tracking.client_for(root)
    experiment = client.get_experiment_by_name(challenge)
    if experiment is None:
        return {}
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=10_000,
    )
    latest: dict[tuple[str, str], RunInfo] = {}
    for run in found:
        tags = run.data.tags
        key = (tags.get("team", ""), tags.get("release_version", ""))
        if not all(key) or key in latest:
            continue
        latest[key] = _run_info(client, run, uri, artifacts)
    return latest


def _run_info(client, run, uri: str, artifacts: bool = True) -> RunInfo:
    run_id = run.info.run_id
    record, environment, figures, explanations = {}, "", {}, {}
    with tempfile.TemporaryDirectory(prefix="portal-site-run-") as tmp:
        local = Path(tmp)
        names = {a.path for a in client.list_artifacts(run_id)} if artifacts else set()
        if "record.json" in names:
            path = client.download_artifacts(run_id, "record.json", str(local))
            record = json.loads(Path(path).read_text("utf-8"))
        if "environment.txt" in names:
            path = client.download_artifacts(run_id, "environment.txt", str(local))
            environment = Path(path).read_text("utf-8")
        if "figures" in names:
            path = Path(client.download_artifacts(run_id, "figures", str(local)))
            figures = {p.name: p.read_bytes() for p in sorted(path.glob("*.png"))}
        if "run" in names and not any(f.startswith("saliency-") for f in figures):
            listed = sorted(
                a.path
                for a in client.list_artifacts(run_id, "run/explanations")
                if a.path.endswith(".npz")
            )[:EXPLANATIONS]
            for name in listed:
                path = Path(client.download_artifacts(run_id, name, str(local)))
                explanations[path.name] = path.read_bytes()
    return RunInfo(
        team=run.data.tags["team"],
        version=run.data.tags["release_version"],
        run_id=run_id,
        experiment_id=run.info.experiment_id,
        run_name=run.info.run_name or run_id,
        start_time=run.info.start_time,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
        tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log-model")},
        record=record,
        environment=environment,
        figures=figures,
        tracking_uri=uri,
        explanations=explanations,
    )


def read_challenge(root: Path, challenge: str, title: str, *, with_runs: bool = True):
    path = root / card_path(challenge)
    card = load_card(path)
    rules_dir = root / "reproduce" / challenge
    rules = (
        load_challenge(rules_dir / "challenge.yaml")
        if (rules_dir / "challenge.yaml").exists()
        else None
    )
    official = (
        load_leaderboard(rules_dir / "leaderboard.csv")
        if (rules_dir / "leaderboard.csv").exists()
        else {}
    )
    teams = []
    for team_id in team_ids(rules_dir) if rules_dir.is_dir() else []:
        team = load_team(rules_dir / team_id)
        teams.append(
            TeamInfo(
                team, (team.folder / "MODEL_CARD.md").read_text("utf-8"), official.get(team_id)
            )
        )
    teams.sort(key=lambda t: (t.official.rank if t.official else 10**6, t.team.id))
    releases_dir = root / "data" / challenge / "releases"
    versions = sorted(published_versions(releases_dir), key=parse_version)
    releases = [read_release(releases_dir / v, challenge) for v in versions]
    runs = read_runs(root, challenge) if with_runs else {}
    return ChallengeInfo(challenge, title, card, path, rules, teams, releases, runs)


def read_sources(root: Path, *, with_runs: bool = True) -> Sources:
    """Everything the site shows, for every challenge in ``params.yaml``."""
    root = Path(root).resolve()
    params = load_params(root / PARAMS_FILE)
    challenges = [
        read_challenge(root, cid, spec.title, with_runs=with_runs)
        for cid, spec in sorted(params.challenges.items())
    ]
    return Sources(root, params.site, challenges)
