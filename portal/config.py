"""The pipeline's parameters (``params.yaml``), validated in full before any work starts.

``params.yaml`` drives both the ``portal`` commands and the ``dvc.yaml`` stages,
so adding a challenge is a data change, not a code change.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portal.errors import ConfigError

PARAMS_FILE = Path("params.yaml")
M = TypeVar("M", bound=BaseModel)


def parse_shape(text: str) -> tuple[int, int, int]:
    """``ROWSxCOLSxSLICES`` (e.g. ``128x128x64``) to the (slices, rows, cols) array shape."""
    try:
        rows, cols, slices = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(
            f"--shape {text!r} is not ROWSxCOLSxSLICES.", hint="write it like 128x128x64."
        ) from None
    if min(rows, cols, slices) < 8 or max(rows, cols, slices) > 512:
        raise ConfigError(
            f"--shape {text!r}: each size must be between 8 and 512.",
            hint="use the default 128x128x64, or e.g. 32x32x16 for quick tests.",
        )
    return slices, rows, cols


class SynthParams(BaseModel):
    """How to generate the synthetic export that stands in for a real challenge export."""

    model_config = ConfigDict(extra="forbid")

    exams: int = Field(2000, ge=1, le=100_000, description="number of exams")
    seed: int = Field(0, ge=0, description="random seed; same seed, same bytes")
    shape: str = Field("128x128x64", description="ROWSxCOLSxSLICES of each volume")

    @field_validator("shape")
    @classmethod
    def _shape_is_valid(cls, value: str) -> str:
        try:
            parse_shape(value)
        except ConfigError as error:
            raise ValueError(error.message) from None
        return value


class ChallengeParams(BaseModel):
    """One challenge of the portal."""

    model_config = ConfigDict(extra="forbid")

    title: str
    synth: SynthParams | None = None


class ReleaseParams(BaseModel):
    """One published (or to be published) version of a challenge's data."""

    model_config = ConfigDict(extra="forbid")

    challenge: str
    version: str = Field(pattern=r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="release date, YYYY-MM-DD")
    notes: str = Field(min_length=10, description="the changelog entry, in words")
    lower_bump_reason: str | None = None

    @field_validator("date")
    @classmethod
    def _calendar_date(cls, value: str) -> str:
        try:
            dt.date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a calendar date ({error})") from None
        return value


class ReproductionParams(BaseModel):
    """One ``reproductions:`` entry: a team re-run on a release (a DVC stage)."""

    model_config = ConfigDict(extra="forbid")

    challenge: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    team: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="folder under reproduce/")


class PublicationParams(BaseModel):
    """One ``publications:`` entry: a release mirrored to a target (a DVC stage)."""

    model_config = ConfigDict(extra="forbid")

    challenge: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    to: str = Field(
        # no user:password@ or key@ in the address: credentials come from the environment
        pattern=r"^(dir://\S+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?|hf://[\w.-]+/[\w.-]+)$",
        description="dir:///path, s3://bucket/prefix or hf://org/name",
    )


class SiteParams(BaseModel):
    """The ``site:`` section of ``params.yaml``: where the site and its files live."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Open challenge portal"
    url: str = Field(
        "http://127.0.0.1:8000/", pattern=r"^https?://.*/$", description="the site's address"
    )
    downloads: str = Field(
        "http://127.0.0.1:8000/files/",
        pattern=r"^https?://.*/$",
        description="base address of release files: <downloads><challenge>/<version>/<path>",
    )
    repository: str = Field(
        "",
        pattern=r"^(https?://\S+|git@\S+|)$",
        description="the git repository of this portal, for `dvc get` (none: no such recipe)",
    )
    publisher: str = Field("", description="who publishes the site, named in every page's footer")
    contact: str = Field(
        "", description="how to reach the publisher: an e-mail address or a web address"
    )
    licence: str = Field("", description="the licence of the site's own text, in the footer")
    licence_url: str = Field("", pattern=r"^(https?://\S+|)$", description="its text")
    mlflow_ui: str = Field(
        "http://127.0.0.1:5000/", pattern=r"^https?://.*/$", description="an MLflow UI on the runs"
    )


class SandboxParams(BaseModel):
    """The organiser's ceiling on every team step (``sandbox:``): a team's ``resources``
    may ask for less, never more."""

    model_config = ConfigDict(extra="forbid")

    cpu_seconds: int = Field(3600, gt=0, le=7 * 86_400, description="CPU time per step")
    memory_gb: float = Field(8, gt=0, le=1024, description="memory per step")
    wall_seconds: float = Field(3600, gt=0, le=7 * 86_400, description="wall clock per step")
    processes: int = Field(256, ge=8, le=65_536, description="processes and threads at once")
    write_gb: float = Field(2, gt=0, le=1024, description="bytes a run may leave behind")
    write_files: int = Field(20_000, ge=10, le=10_000_000, description="files a run may leave")


class Params(BaseModel):
    """The whole ``params.yaml``."""

    model_config = ConfigDict(extra="forbid")

    challenges: dict[str, ChallengeParams]
    releases: dict[str, ReleaseParams] = Field(default_factory=dict)
    reproductions: dict[str, ReproductionParams] = Field(default_factory=dict)
    publications: dict[str, PublicationParams] = Field(default_factory=dict)
    site: SiteParams = Field(default_factory=SiteParams)
    sandbox: SandboxParams = Field(default_factory=SandboxParams)

    @model_validator(mode="after")
    def _release_keys(self) -> Params:
        for key, release in self.releases.items():
            if key != f"{release.challenge}-{release.version}":
                raise ValueError(f"releases.{key}: name it {release.challenge}-{release.version}")
            if release.challenge not in self.challenges:
                raise ValueError(f"releases.{key}: unknown challenge {release.challenge!r}")
        for key, run in self.reproductions.items():
            if key != f"{run.challenge}-{run.version}-{run.team}":
                raise ValueError(
                    f"reproductions.{key}: name it {run.challenge}-{run.version}-{run.team}"
                )
            if f"{run.challenge}-{run.version}" not in self.releases:
                raise ValueError(
                    f"reproductions.{key}: release {run.challenge}-{run.version} is not "
                    "under releases:"
                )
        for key, target in self.publications.items():
            if not key.startswith(f"{target.challenge}-{target.version}-"):
                raise ValueError(
                    f"publications.{key}: name it {target.challenge}-{target.version}-<mirror>"
                )
            if f"{target.challenge}-{target.version}" not in self.releases:
                raise ValueError(
                    f"publications.{key}: release {target.challenge}-{target.version} is not "
                    "under releases:"
                )
        return self

    def release(self, challenge: str, version: str) -> ReleaseParams:
        key = f"{challenge}-{version}"
        if key not in self.releases:
            raise ConfigError(
                f"no release {key} in params.yaml.",
                hint="add it under `releases:` with its date and changelog notes.",
            )
        return self.releases[key]

    def challenge(self, name: str) -> ChallengeParams:
        if name not in self.challenges:
            known = ", ".join(sorted(self.challenges)) or "none"
            raise ConfigError(
                f"challenge {name!r} is not in params.yaml (known: {known}).",
                hint="add it under 'challenges:' in params.yaml, or check the spelling.",
            )
        return self.challenges[name]


def validation_problems(error: ValidationError) -> list[str]:
    """One line per problem, ``where.in.the.file: what is wrong``."""
    return [f"{'.'.join(str(p) for p in issue['loc'])}: {issue['msg']}" for issue in error.errors()]


def read_text_file(path: Path) -> str:
    """A configuration file's text, without a byte-order mark. A folder, an unreadable or
    a non-UTF-8 file is a ``ConfigError`` naming it; a missing one raises
    ``FileNotFoundError`` for the caller to say where it looked."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a file.", hint="point at the file.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start}).", hint="save it as UTF-8."
        ) from None
    except FileNotFoundError:
        raise
    except OSError as error:
        raise ConfigError(
            f"{path} cannot be read ({error.strerror}).", hint="check its permissions."
        ) from None
    return text.removeprefix("\ufeff")


def load_yaml_model(path: Path, model: type[M], *, missing: str, fix: str) -> M:
    """Read a YAML file into ``model``; every problem is listed at once, with the field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_text_file(path)) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path} not found.", hint=missing) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}", hint="fix the syntax.") from None
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problems = validation_problems(error)
        raise ConfigError(
            f"{path}: {len(problems)} problem(s):", problems=problems, hint=fix
        ) from None


def load_params(path: Path = PARAMS_FILE) -> Params:
    """Read and validate ``path``; every problem is reported at once."""
    path = Path(path)
    try:
        raw = yaml.safe_load(read_text_file(path))
    except FileNotFoundError:
        raise ConfigError(
            f"{path.name} not found in {path.resolve().parent}.",
            hint="run from the project root (the folder holding params.yaml) or name it: "
            "`portal --project PATH …`.",
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}", hint="fix the syntax.") from None
    try:
        return Params.model_validate(raw or {})
    except ValidationError as error:
        problems = validation_problems(error)
        raise ConfigError(
            f"{path} has {len(problems)} problem(s):",
            problems=problems,
            hint="correct the values listed; see docs/configuration.md.",
        ) from None
