"""A team's packaged solution (``algorithm.yaml``) and the challenge's leaderboard.

Both are read and validated in full: every problem is listed at once, with
the file and the field, like every configuration of the portal.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portal.config import load_yaml_model
from portal.errors import ConfigError, InputError

PLACEHOLDERS = {"python", "code", "release", "run", "split", "seed"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Upstream(_Strict):
    repository: str = Field(pattern=r"^https://")
    commit: str = Field(pattern=r"^[0-9a-f]{40}$", description="the full 40-hex git commit")


class EntryPoints(_Strict):
    train: list[str] = Field(min_length=1)
    predict: list[str] = Field(min_length=1)
    explain: list[str] | None = None

    @field_validator("train", "predict", "explain")
    @classmethod
    def _known_placeholders(cls, command: list[str] | None) -> list[str] | None:
        for part in command or []:
            unknown = set(_PLACEHOLDER.findall(part)) - PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"unknown placeholder(s) {sorted(unknown)}; use {sorted(PLACEHOLDERS)}"
                )
        return command


class Resources(_Strict):
    cpu_seconds: int = Field(gt=0, le=86_400)
    memory_gb: float = Field(gt=0, le=64)
    wall_seconds: float = Field(gt=0, le=86_400)


class Numerics(_Strict):
    """How the team's steps compute: portable numerics (the default), or, with a reason the
    site shows, the machine's native kernels (docs/reproduction.md, "Portable numerics")."""

    portable: bool = True
    reason: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _reason_with_opt_out(self) -> Numerics:
        reason = (self.reason or "").strip()
        if not self.portable and len(reason) < 10:
            raise ValueError(
                "portable: false needs a reason (10 characters or more) saying why the "
                "team's score needs the machine's native kernels"
            )
        if self.portable and reason:
            raise ValueError("reason is only for opting out: set portable: false, or drop it")
        return self


class Algorithm(_Strict):
    """What ``reproduce/<challenge>/<team>/algorithm.yaml`` declares."""

    team: str = Field(min_length=1)
    title: str = Field(min_length=1)
    rank: int = Field(ge=1)
    license: str = Field(min_length=1, description="an SPDX identifier")
    upstream: Upstream
    entry_points: EntryPoints
    seeds: list[int] = Field(min_length=1)
    resources: Resources
    numerics: Numerics = Field(default_factory=Numerics)


@dataclass(frozen=True)
class Team:
    """A team folder: its id (the folder's name), declaration and files."""

    id: str
    folder: Path
    algorithm: Algorithm

    @property
    def requirements(self) -> Path:
        return self.folder / "requirements.txt"


def load_team(folder: Path) -> Team:
    folder = Path(folder)
    path = folder / "algorithm.yaml"
    if not path.exists():
        raise ConfigError(
            f"{path} not found.",
            hint="each team folder holds algorithm.yaml, requirements.txt, its code and "
            "MODEL_CARD.md (docs/reproduction.md).",
        )
    algorithm = load_yaml_model(
        path,
        Algorithm,
        missing="add algorithm.yaml to the team folder.",
        fix="fix the fields listed; docs/reproduction.md describes them.",
    )
    missing = [n for n in ("requirements.txt", "MODEL_CARD.md") if not (folder / n).exists()]
    if missing:
        raise ConfigError(
            f"{folder}: missing {', '.join(missing)}.",
            hint="pin every package in requirements.txt and describe the model in MODEL_CARD.md.",
        )
    return Team(folder.name, folder, algorithm)


def team_ids(challenge_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in Path(challenge_dir).glob("*/algorithm.yaml"))


LEADERBOARD_COLUMNS = ["team", "name", "rank", "metric", "public_score", "private_score"]


@dataclass(frozen=True)
class Entry:
    team: str
    name: str
    rank: int
    metric: str
    public_score: float
    private_score: float


def load_leaderboard(path: Path) -> dict[str, Entry]:
    """The official scores: the challenge's historical record, never edited."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path} not found.", hint="commit the challenge's leaderboard.csv.")
    problems: list[str] = []
    entries: dict[str, Entry] = {}
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    reader = csv.DictReader(lines)
    if reader.fieldnames != LEADERBOARD_COLUMNS:
        raise InputError(
            f"{path}: columns are {reader.fieldnames}, expected {LEADERBOARD_COLUMNS}.",
            hint="keep the leaderboard's header as documented in docs/reproduction.md.",
        )
    for number, row in enumerate(reader, start=2):
        try:
            entry = Entry(
                row["team"],
                row["name"],
                int(row["rank"]),
                row["metric"],
                float(row["public_score"]),
                float(row["private_score"]),
            )
        except (TypeError, ValueError) as error:
            problems.append(f"row {number}: {error}")
            continue
        if entry.team in entries:
            problems.append(f"row {number}: team {entry.team} listed twice")
        entries[entry.team] = entry
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s):", problems=problems)
    return entries
