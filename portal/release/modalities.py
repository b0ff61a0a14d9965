"""The release parts the portal knows, by the ``data_kind`` a data card declares
(the interface: :class:`portal.core.modality.ReleasePart`).

Each entry imports its implementation when asked for, so releasing a DICOM challenge
never loads the tabular code, and the reverse.
"""

from __future__ import annotations

from portal.core.modality import KINDS, ReleasePart
from portal.errors import ConfigError


def release_part(kind: str) -> ReleasePart:
    """The release part of a card's ``data_kind``."""
    if kind == "dicom":
        from portal.release.dicom import DicomRelease

        return DicomRelease()
    if kind == "tabular":
        from portal.release.tabular import TabularRelease

        return TabularRelease()
    raise ConfigError(
        f"data kind {kind!r} is not one the portal knows.",
        hint=f"write `data_kind:` as one of {', '.join(KINDS)} in the data card.",
    )
