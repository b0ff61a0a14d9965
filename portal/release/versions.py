"""Semantic versioning for data, and what changed between two versions.

Rules (docs/release.md): MAJOR when labels or splits change (or exams are removed),
MINOR when exams are added, PATCH when only metadata or files change. The
changes are computed from the tables and the manifests, never typed by hand,
and written both as data (for tools and the site) and as Markdown (for people).
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from portal.errors import ConfigError, VersionError

BUMPS = ("patch", "minor", "major")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def parse_version(text: str) -> tuple[int, int, int]:
    match = SEMVER.match(text or "")
    if not match:
        raise ConfigError(
            f"version {text!r} is not MAJOR.MINOR.PATCH.", hint="write it like 1.0.0."
        )
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def bump_of(old: str, new: str) -> str | None:
    """Which part ``new`` bumps over ``old``; None when it is not greater."""
    a, b = parse_version(old), parse_version(new)
    if b <= a:
        return None
    if b[0] > a[0]:
        return "major"
    if b[1] > a[1]:
        return "minor"
    return "patch"


def next_version(old: str, bump: str) -> str:
    major, minor, patch = parse_version(old)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@dataclass
class Tables:
    """The tabular side of a version: labels, splits and clinical metadata by exam."""

    labels: dict[str, dict[str, str]]
    splits: dict[str, str]
    clinical: dict[str, dict[str, str]]

    def withholding(self, splits: list[str]) -> Tables:
        """The tables as published: labels of ``splits`` blanked."""
        labels = {
            exam: {
                k: ("" if self.splits[exam] in splits and k not in ("exam_id", "patient_id") else v)
                for k, v in row.items()
            }
            for exam, row in self.labels.items()
        }
        return Tables(labels=labels, splits=self.splits, clinical=self.clinical)

    @classmethod
    def read(cls, folder: Path) -> Tables:
        def rows(name: str) -> dict[str, dict[str, str]]:
            path = Path(folder) / name
            if not path.exists():
                return {}
            with open(path, newline="", encoding="utf-8") as handle:
                return {row["exam_id"]: row for row in csv.DictReader(handle)}

        return cls(
            labels=rows("labels.csv"),
            splits={e: r["split"] for e, r in rows("splits.csv").items()},
            clinical=rows("clinical.csv"),
        )


@dataclass
class Changes:
    """Everything that differs from the parent version, as data."""

    parent: str | None
    exams_added: list[str] = field(default_factory=list)
    exams_removed: list[str] = field(default_factory=list)
    labels_changed: list[dict[str, str]] = field(default_factory=list)
    labels_released: list[str] = field(default_factory=list)  # withheld before, public now
    splits_changed: list[dict[str, str]] = field(default_factory=list)
    metadata_changed: list[dict[str, str]] = field(default_factory=list)
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)

    @property
    def required_bump(self) -> str | None:
        """The smallest bump semver for data allows; None when nothing changed."""
        if self.labels_changed or self.splits_changed or self.exams_removed:
            return "major"
        if self.exams_added or self.labels_released:
            return "minor"
        if self.metadata_changed or self.files_added or self.files_removed or self.files_changed:
            return "patch"
        return None

    @property
    def empty(self) -> bool:
        return self.required_bump is None

    def to_dict(self) -> dict:
        return {**asdict(self), "required_bump": self.required_bump}

    def to_markdown(self, version: str, note: str = "") -> str:
        lines = [f"## {version}", ""]
        if self.parent is None:
            lines.append("First release.")
        else:
            lines.append(f"Changes from {self.parent} (computed from the data):")
        lines.append("")
        if note:
            lines += [note, ""]

        def block(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"- {title}: {len(items)}")
                lines.extend(f"  - {item}" for item in items[:200])
                if len(items) > 200:
                    lines.append(f"  - … and {len(items) - 200} more (see changes.json)")

        block("exams added", self.exams_added)
        block("exams removed", self.exams_removed)
        block(
            "labels changed",
            [f"{c['exam_id']} {c['field']}: {c['from']} → {c['to']}" for c in self.labels_changed],
        )
        block(
            "splits changed",
            [f"{c['exam_id']}: {c['from']} → {c['to']}" for c in self.splits_changed],
        )
        block(
            "metadata changed",
            [
                f"{c['exam_id']} {c['field']}: {c['from']} → {c['to']}"
                for c in self.metadata_changed
            ],
        )
        block("files added", self.files_added)
        block("files removed", self.files_removed)
        block("files changed", self.files_changed)
        if self.parent is not None and self.empty:
            lines.append("- no change")
        return "\n".join(lines).rstrip() + "\n"


def compare(
    parent: Tables | None,
    new: Tables,
    *,
    parent_version: str | None = None,
    parent_files: dict[str, str] | None = None,
    new_files: dict[str, str] | None = None,
    label_fields: tuple[str, ...] = ("label",),
) -> Changes:
    """What changed from ``parent`` to ``new``; files are compared by their sha256.

    A change of one of ``label_fields`` (the label, and the card's hard-case flags, part
    of the readers' judgement) is a label change; of any other column, a metadata change.
    """
    changes = Changes(parent=parent_version)
    if parent is None:
        return changes
    old_exams, new_exams = set(parent.labels), set(new.labels)
    changes.exams_added = sorted(new_exams - old_exams)
    changes.exams_removed = sorted(old_exams - new_exams)
    for exam in sorted(old_exams & new_exams):
        if parent.labels[exam].get("label") == "" and new.labels[exam].get("label"):
            changes.labels_released.append(exam)
            continue
        for name in label_fields:
            before, after = parent.labels[exam].get(name), new.labels[exam].get(name)
            if before != after:
                changes.labels_changed.append(
                    {"exam_id": exam, "field": name, "from": str(before), "to": str(after)}
                )
        if parent.splits.get(exam) != new.splits.get(exam):
            changes.splits_changed.append(
                {
                    "exam_id": exam,
                    "from": str(parent.splits.get(exam)),
                    "to": str(new.splits.get(exam)),
                }
            )
        for table_old, table_new in ((parent.labels, new.labels), (parent.clinical, new.clinical)):
            old_row, new_row = table_old.get(exam, {}), table_new.get(exam, {})
            for name in sorted(set(old_row) | set(new_row)):
                if name in label_fields or name == "exam_id":
                    continue
                if old_row.get(name) != new_row.get(name):
                    changes.metadata_changed.append(
                        {
                            "exam_id": exam,
                            "field": name,
                            "from": str(old_row.get(name)),
                            "to": str(new_row.get(name)),
                        }
                    )
    if parent_files is not None and new_files is not None:
        changes.files_added = sorted(set(new_files) - set(parent_files))
        changes.files_removed = sorted(set(parent_files) - set(new_files))
        changes.files_changed = sorted(
            p for p in set(parent_files) & set(new_files) if parent_files[p] != new_files[p]
        )
    return changes


def check_version(
    requested: str,
    parent: str | None,
    changes: Changes,
    *,
    lower_bump_reason: str | None = None,
) -> str:
    """Refuse versions that break semver for data; return a note for the changelog.

    A bump smaller than the changes require is refused unless the organiser
    gives a reason, which is then written into the changelog.
    """
    parse_version(requested)
    if parent is None:
        return ""
    bump = bump_of(parent, requested)
    if bump is None:
        raise VersionError(
            f"version {requested} is not greater than the latest release {parent}.",
            hint=f"use {next_version(parent, changes.required_bump or 'patch')}.",
        )
    if changes.empty:
        raise VersionError(
            f"nothing changed since {parent}: there is no new version to release.",
            hint="change the data or its metadata first, or cite the existing version.",
        )
    required = changes.required_bump or "patch"
    if BUMPS.index(bump) >= BUMPS.index(required):
        return ""
    why = {
        "major": "labels, gray-zone flags or splits changed, or exams were removed",
        "minor": "exams were added",
    }[required]
    if not lower_bump_reason:
        raise VersionError(
            f"{why}: semver for data requires a {required.upper()} version "
            f"({next_version(parent, required)}), not {requested}.",
            hint=f"release as {next_version(parent, required)}, or add "
            "`lower_bump_reason: 'why'` to this release under `releases:` in params.yaml "
            "to keep this version and record why.",
        )
    return (
        f"Released as a {bump.upper()} version although {why} (semver for data says "
        f"{required.upper()}), because: {lower_bump_reason}"
    )


def published_versions(releases: Path) -> list[str]:
    """The versions of ``releases/`` that are published (a folder with a manifest), oldest
    first; the release, reproduce and site stages all read them here."""
    if not releases.is_dir():
        return []
    found = []
    for folder in releases.iterdir():
        if folder.is_dir() and (folder / "manifest.json").exists():
            try:
                parse_version(folder.name)
            except Exception:
                continue
            found.append(folder.name)
    return sorted(found, key=parse_version)
