"""The tabular modality's side of ``portal release`` (tables and time series, ML-KIDCAR).

The data files, the dataset card and Croissant are written by
``portal.tabular.release.write_release_files`` from the verified tabular staging; the
diff between versions is ``portal.tabular.versions``; the independent verifier re-run
against the export is ``portal.tabular.verify``. This module only passes them what the
data card and the release machinery say (``portal/release/build.py`` does the rest as
for every kind), and names no column of the challenge: they stay in ``portal/tabular/``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from portal.core.modality import Staged, Written
from portal.errors import InputError, VerificationError
from portal.release.cards import Card, cited_title, provenance_notice
from portal.release.context import ReleaseContext


def _classes(card: Card) -> tuple[str, str]:
    """(negative, positive): the names the label commitments commit to."""
    task = card.meta.task
    positive = task.positive_class or task.classes[-1]
    negative = next((c for c in task.classes if c != positive), "")
    return negative, positive


def _key_id(staging: Path) -> str:
    import json

    path = staging / "deid_report.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8")).get("key_id", ""))
    except (OSError, ValueError, AttributeError) as error:
        raise InputError(
            f"{path}: not a de-identification report ({type(error).__name__}).",
            path=str(path),
            hint="ingest again (`portal ingest <challenge>`); releases are built from staging "
            "only.",
        ) from None


class TabularRelease:
    """Tables and time series: Parquet tables per split, a dataset card with one config per
    table, Croissant record sets with their references."""

    kind = "tabular"

    def check(self, staging: Path, card: Card) -> Staged:
        from portal.tabular.release import check_staging
        from portal.tabular.versions import staged_labels

        staging = Path(staging)
        if not staging.is_dir():
            raise InputError(
                f"{staging}: no staging here.",
                path=str(staging),
                hint="run `portal ingest <challenge>` first; releases are built from staging only.",
            )
        check_staging(staging)
        labels, splits = staged_labels(staging, _classes(card))
        if not labels:
            raise InputError(
                f"{staging}: the staging holds no surgery.",
                path=str(staging),
                hint="run `portal ingest <challenge>`.",
            )
        unknown = sorted(set(splits.values()) - set(card.meta.schema.splits))
        if unknown:
            raise InputError(
                f"{staging / 'splits.parquet'}: split {unknown[0]!r} is not one of the data "
                f"card's ({', '.join(card.meta.schema.splits)}).",
                path=str(staging / "splits.parquet"),
                hint="declare it under `split_policy:` in the data card, or ingest again.",
            )
        return Staged(
            labels=labels,
            splits=splits,
            commit_fields=tuple(k for k in next(iter(labels.values())) if k != "label"),
            key_id=_key_id(staging),
            unit="surgeries",
        )

    def reverify(self, staging: Path, export: Path, card: Card) -> None:
        from portal.tabular.verify import summary, verify_tabular

        block = card.meta.deidentification.tabular
        result = verify_tabular(export, staging, Path(staging).parent / "private", block)
        if not result.ok:
            lines = list(summary(result))
            raise VerificationError(
                f"the tabular verifier found {len(result.findings)} problem(s) in {staging} "
                f"against {export} (first: {result.findings[0]}); nothing is released.",
                problems=lines[1:21],
                hint="ingest again (`portal ingest <challenge>`): it stages only what the "
                "verifier accepts.",
            )

    def write_data(
        self,
        out: Path,
        staging: Path,
        staged: Staged,
        *,
        card: Card,
        withheld: list[str],
        text: ReleaseContext,
        progress: Callable[[int], None] | None = None,
    ) -> Written:
        from portal.tabular.release import ReleaseText, write_release_files

        meta = card.meta
        written = write_release_files(
            staging,
            out,
            ReleaseText(
                name=text.challenge,
                title=cited_title(meta),
                summary=meta.summary,
                version=text.version,
                date=text.date,
                license=meta.license,
                license_url=meta.license_url,
                creators=tuple(c.name for c in meta.creators),
                publisher=meta.publisher,
                citation=text.cite,
                synthetic=text.synthetic,
                keywords=tuple(meta.keywords),
                language=tuple(meta.language),
                sections=dict(card.sections),
                content_hash=text.content_hash,
                notes=text.notes,
                notice=provenance_notice(meta) or "",
            ),
            withheld=tuple(withheld),
        )
        if progress:
            progress(sum(written.surgeries.values()))
        order = [s for s in meta.schema.splits if s in written.surgeries]
        return Written(counts={s: written.surgeries[s] for s in order}, detail=written)

    def compare(
        self,
        parent: Path | None,
        parent_version: str | None,
        parent_files: dict[str, str] | None,
        out: Path,
        staged: Staged,
        withheld: list[str],
        files: dict[str, str],
        card: Card,
    ):
        from portal.tabular.versions import compare_releases

        return compare_releases(
            parent,
            out,
            parent_version=parent_version,
            parent_files=parent_files,
            new_files=files,
        )

    def write_descriptors(self, out: Path, written: Written, text: ReleaseContext) -> None:
        """The dataset card and Croissant were written with the data files (they quote the
        content-hash placeholder, which the seal replaces)."""
