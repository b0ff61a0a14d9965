"""What a reproduction writes for others to read, each defined once, with a schema version.

``verdict.json`` (read by ``portal verdicts`` and the CLI's table), ``record.json``
(read by the MLflow log, the site and the book) and the run's MLflow tags (read by the
site) are written and read through the models here, never as loose dicts: a missing or
misspelt key fails where the file is written, and a file of another schema version is
named, with its path, where it is read.

``schema_version`` starts at 1; a change that renames or removes a key raises it, and the
reader says which version it found and which it reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.errors import InputError
from portal.reproduce.verdict import Verdict

SCHEMA_VERSION = 1

#: the machine fields shown beside each verdict (the full fingerprint is in record.json)
FINGERPRINT_SHOWN = (
    "cpu_model",
    "isa_level",
    "kernel_flags",
    "usable_cpus",
    "memory_gib",
    "os",
    "kernel",
    "libc",
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION

    def write(self, path: Path) -> None:
        """Write the record as indented JSON (the caller writes into a temporary folder
        that is renamed into place: see ``Reproduction.run``)."""
        data = self.model_dump(mode="json", fallback=str)  # a Path or a date, as text
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path):
        """Read and validate one file; every problem is named with the file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"not readable JSON ({error}).", path=path) from None
        found = data.get("schema_version", SCHEMA_VERSION) if isinstance(data, dict) else None
        if found != SCHEMA_VERSION:
            raise InputError(
                f"schema version {found}; this portal reads version {SCHEMA_VERSION}.",
                path=path,
                hint="re-run the reproduction with this portal (`portal reproduce`).",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = [
                f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in error.errors()
            ]
            raise InputError(f"not a valid {cls.__name__}.", path=path, problems=problems) from None


class VerdictFile(_Record):
    """``runs/<challenge>/<version>/<team>/verdict.json``: the verdict and what it rests on."""

    team: str
    name: str
    version: str
    attempt: int
    determinism: bool | None  # the two runs gave the same bytes (None: run once)
    verdict: Verdict
    official: float
    reproduced: float | None
    difference: float | None
    tolerance: float
    ci: tuple[float, float] | None
    reason: str
    numerics: str  # the numerical setting the run used (portable or native)
    numerics_reason: str | None  # why the team opted out of portable numerics
    hardware_sensitive: bool | None  # the hardware check saw other predictions
    hardware_band: list[float] | None
    hardware: dict[str, Any]  # FINGERPRINT_SHOWN and the numerical libraries

    def row(self) -> dict:
        """The verdict as the CLI's tables read it (the JSON form)."""
        return self.model_dump(mode="json")


class RunRecord(_Record):
    """``runs/<challenge>/<version>/<team>/record.json``: everything about one run, also
    logged to MLflow as an artifact. The nested parts are the measurements' own shapes
    (``numerics``, ``hardware``, ``scores``: see their modules)."""

    challenge: str
    team: str
    name: str
    title: str
    rank: int
    release: dict[str, str]  # version, content_hash, path
    attempt: int
    cost: dict[str, float | None]  # wall_seconds, peak_memory_mb
    verdict: dict[str, Any]  # VerdictRecord.to_dict()
    log_tail: str | None
    determinism: dict[str, Any]
    algorithm: dict[str, Any]  # algorithm.yaml as validated
    scores: dict[str, Any] | None
    hardware: dict[str, Any]
    numerics: dict[str, Any]
    hardware_check: dict[str, Any]
    environment: dict[str, Any] | None
    attempts: dict[str, Any]
    limits: dict[str, Any]
    untrusted_output: dict[str, Any]
    explanations_refused: list[Any] | None = None


class RunTags(BaseModel):
    """The MLflow tags of one reproduction run (the site finds runs and verdicts by them).

    The fixed tags are fields; the provenance tags whose names come from the data
    (``git.*``, ``dvc.*``, ``hardware.<fingerprint key>``) are in ``provenance``.
    :meth:`to_tags` gives what is logged, :meth:`from_tags` reads it back.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_version: str = Field(str(SCHEMA_VERSION), alias="portal.schema_version")
    team: str
    team_name: str
    challenge: str
    release_version: str
    release_content_hash: str = Field(alias="release.content_hash")
    verdict: Verdict
    attempt: str
    deterministic: str  # "True", "False" or "None" (run once)
    upstream_repository: str = Field(alias="upstream.repository")
    upstream_commit: str = Field(alias="upstream.commit")
    numerics: str
    numerics_opt_out_reason: str = Field(alias="numerics.opt_out_reason")
    numerics_libraries: str = Field(alias="numerics.libraries")
    numerics_overridden: str = Field(alias="numerics.overridden")
    hardware_sensitive: str = Field(alias="hardware.sensitive")
    provenance: dict[str, str] = Field(default_factory=dict)

    def to_tags(self) -> dict[str, str]:
        fixed = self.model_dump(mode="json", by_alias=True, exclude={"provenance"})
        return {**fixed, **self.provenance}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> RunTags:
        """The tags of a run as MLflow returns them (MLflow's own ``mlflow.*`` ignored)."""
        names = {field.alias or name for name, field in cls.model_fields.items()}
        fixed = {k: v for k, v in tags.items() if k in names}
        extra = {
            k: v
            for k, v in tags.items()
            if k not in names and k.startswith(("git.", "dvc.", "hardware."))
        }
        return cls(**fixed, provenance=extra)
