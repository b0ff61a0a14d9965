"""The modalities the portal knows, by the ``data_kind`` a data card declares.

Each entry imports its implementation when asked for, so ``portal ingest`` on a DICOM
challenge never loads the tabular code, and the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from portal.core.modality import KINDS, IngestReport, Modality
from portal.errors import ConfigError


class Dicom:
    """DICOM images (DaT-SPECT, MRI, ...): the PS3.15 profile and the DICOM verifier."""

    kind = "dicom"

    def ingest(
        self,
        challenge: str,
        export: Path,
        out: Path,
        *,
        card,
        key: bytes,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
        allow_shrink: bool = False,
    ) -> IngestReport:
        from portal.ingest.staging import ingest

        summary = ingest(
            challenge,
            export,
            out,
            options=card.deidentification,
            key=key,
            schema=card.schema,
            workers=workers,
            progress=progress,
            on_total=on_total,
            allow_shrink=allow_shrink,
        )
        rows = [
            ("exams staged", str(summary.exams)),
            ("files staged", str(summary.files)),
            ("files quarantined", str(summary.quarantined)),
        ]
        if summary.excluded_exams:
            rows.append(("exams excluded", ", ".join(summary.excluded_exams[:10])))
        rows.append(("actions", ", ".join(f"{k} {v}" for k, v in summary.actions.items())))
        rows.append(("verifier", f"passed ({summary.verifier_elements} elements checked)"))
        notes = [f"quarantined: {group.line()}" for group in summary.quarantine]
        return IngestReport(summary.staging, rows, notes, summary)


class Tabular:
    """Tables and time series (ML-KIDCAR): keyed pseudonyms, date shifts, k and l
    measured and enforced, and the tabular verifier."""

    kind = "tabular"

    def ingest(
        self,
        challenge: str,
        export: Path,
        out: Path,
        *,
        card,
        key: bytes,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
        on_total: Callable[[int], None] | None = None,
        on_phase: Callable[[str], None] | None = None,
        allow_shrink: bool = False,
    ) -> IngestReport:
        from portal.tabular.ingest import ingest_tabular

        done = ingest_tabular(
            export,
            out,
            key=key,
            card_block=card.deidentification.tabular,
            progress=progress,
            on_total=on_total,
            on_phase=on_phase,
        )
        risk = done.report["risk"]
        rows = [
            ("surgeries staged", str(done.report["output"]["surgeries"])),
            ("k", f"{risk['k']} (required {risk['k_required']})"),
            ("l", f"{risk['l']} (required {risk['l_required']})"),
            ("suppressed", str(risk["suppressed_surgeries"])),
            ("generalised", ", ".join(f"{q}: {d}" for q, d in risk["generalisation"].items())),
            ("verifier", done.verifier[0]),
        ]
        return IngestReport(done.staging, rows, [], done)


_MODALITIES: dict[str, type] = {"dicom": Dicom, "tabular": Tabular}


def modality(kind: str) -> Modality:
    """The modality of a card's ``data_kind``."""
    if kind not in _MODALITIES:
        raise ConfigError(
            f"data kind {kind!r} is not one the portal knows.",
            hint=f"write `data_kind:` as one of {', '.join(KINDS)} in the data card.",
        )
    return _MODALITIES[kind]()
