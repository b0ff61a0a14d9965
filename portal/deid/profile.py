"""The de-identification profile: DICOM PS3.15 Annex E, Basic profile, plus chosen options.

The standard's table (which attribute gets which action) comes at run time from
the ``dicom-anonymizer`` package, which ships it as data; this module adds the
options a challenge chooses in its data card and resolves every attribute to
one concrete action:

=======  ==========================================================
action   meaning
=======  ==========================================================
``X``    remove the attribute
``Z``    replace with a zero-length value
``D``    replace with a dummy (or pseudonym) value of the same VR
``U``    replace UIDs with keyed-hash UIDs, consistently
``K``    keep
``C``    clean: keep only words known not to identify anyone
``S``    shift the date by the patient's offset (modified dates option)
``R``    recurse: keep the sequence, de-identify inside its items
=======  ==========================================================

Combined actions of the table (``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``,
``X/Z/U*``) depend on the attribute's type in each IOD; the portal takes the
one that never leaves a Type 1 or 2 attribute missing: ``Z`` for ``X/Z``,
``D`` where ``D`` is allowed, ``U`` (recurse and remap) for ``X/Z/U*``.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PROFILE_DATABASE = "dicomfields_2026c"  # PS3.15 2026c, as shipped by dicom-anonymizer


class Option(StrEnum):
    """Annex E options, named by their CID 7050 concept."""

    RETAIN_PATIENT_CHARACTERISTICS = "113108"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "113107"
    CLEAN_DESCRIPTORS = "113105"
    RETAIN_DEVICE_IDENTITY = "113109"
    RETAIN_INSTITUTION_IDENTITY = "113112"
    RETAIN_UIDS = "113110"
    RETAIN_SAFE_PRIVATE = "113111"


#: CID 7050 code meanings, for DeidentificationMethodCodeSequence and reports.
CODE_MEANINGS = {
    "113100": "Basic Application Confidentiality Profile",
    "113105": "Clean Descriptors Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs Option",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}
BASIC_PROFILE = "113100"
SUPPORTED_OPTIONS = {
    Option.RETAIN_PATIENT_CHARACTERISTICS,
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
    Option.CLEAN_DESCRIPTORS,
}

#: What "Retain Patient Characteristics" may keep; a card may keep fewer.
PATIENT_CHARACTERISTICS = (
    "PatientAge",
    "PatientSex",
    "PatientSize",
    "PatientWeight",
    "EthnicGroup",
    "SmokingStatus",
    "PregnancyStatus",
    "PatientSexNeutered",
)

#: Descriptors the portal cleans under "Clean Descriptors" (useful to data users);
#: every other descriptor keeps its Basic-profile action (removed or emptied).
CLEANED_DESCRIPTORS = (
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "PerformedProcedureStepDescription",
    "RequestedProcedureDescription",
    "ScheduledProcedureStepDescription",
    "ImageComments",
    "AdditionalPatientHistory",
    "AcquisitionComments",
    "DerivationDescription",
    "ReasonForTheRequestedProcedure",
)

#: Attributes the standard's table does not list but that carry identifiers in practice:
#: the portal removes them too (privacy first). Keyword -> action.
BEYOND_TABLE = {
    "ReferencedFileID": "X",  # DICOMDIR paths often hold patient IDs and names
    "FileSetID": "X",
    "ReferencedFileIDInFile": "X",
    "OtherPatientIDs": "X",  # retired, but still sent
    "IssuerOfPatientID": "X",
}

#: Removed (X) by the table but Type 2C in some IODs (the Patient module of animals):
#: emptied instead, which hides the value and keeps the file valid.
EMPTIED_NOT_REMOVED = frozenset({"ResponsiblePerson", "ResponsibleOrganization"})
OVERLAY_GROUPS = 0x6000  # 60xx, even groups: overlays may draw text; removed whole

#: Birth date and time are never shifted: the age is what is retained.
NEVER_SHIFTED = ("PatientBirthDate", "PatientBirthTime")

DATE_VRS = ("DA", "DT", "TM")


class DeidOptions(BaseModel):
    """A challenge's de-identification choices, as written in its data card."""

    model_config = ConfigDict(extra="forbid")

    options: list[Option] = Field(
        default_factory=lambda: [
            Option.RETAIN_PATIENT_CHARACTERISTICS,
            Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
            Option.CLEAN_DESCRIPTORS,
        ]
    )
    retain_patient_characteristics: list[str] = Field(
        default_factory=lambda: ["PatientAge", "PatientSex", "PatientSize", "PatientWeight"]
    )
    private_allowlist: list[str] = Field(
        default_factory=list,
        description="private elements kept, as 'CREATOR|gggg,xxee' (xx stands for the block)",
    )
    pseudonym_prefix: str = Field("ANON", pattern=r"^[A-Z][A-Z0-9]{1,7}$")

    def codes(self) -> list[tuple[str, str]]:
        """(code value, meaning) of the profile and each option applied, in CID 7050."""
        values = [BASIC_PROFILE, *sorted(o.value for o in self.options)]
        return [(v, CODE_MEANINGS[v]) for v in values]


@functools.cache
def _table() -> tuple[dict[int, str], tuple[tuple[int, int, str], ...]]:
    """Annex E Basic-profile actions as the package ships them: exact tags, and masked
    repeating groups (curves 50xx, overlays 60xx) as (value, mask, action)."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    database = dicom_anonymization_database_selector(PROFILE_DATABASE)
    exact: dict[int, str] = {}
    masked: list[tuple[int, int, str]] = []
    for category, tags in database.items():
        if category == "ALL_TAGS":
            continue
        action = category.removesuffix("_TAGS").replace("_STAR", "*").replace("_", "/")
        for entry in tags:
            if len(entry) == 2:
                exact[(entry[0] << 16) | entry[1]] = action
            else:
                group, element, group_mask, element_mask = entry
                masked.append(((group << 16) | element, (group_mask << 16) | element_mask, action))
    return exact, tuple(masked)


def basic_action(tag: int) -> str | None:
    """The Basic-profile action of ``tag``, repeating groups included; None if unlisted."""
    exact, masked = _table()
    if tag in exact:
        return exact[tag]
    for value, mask, action in masked:
        if tag & mask == value:
            return action
    return None


def _resolve_combined(action: str) -> str:
    if action == "X/Z/U*":
        return "U"
    if "D" in action:
        return "D"
    if action == "X/Z":
        return "Z"
    return action


def action_for(tag: int, keyword: str, vr: str, options: DeidOptions) -> str:
    """The one action for a public attribute under the Basic profile and ``options``."""
    if (tag >> 16) & 0xFF01 == OVERLAY_GROUPS:
        return "X"  # a whole overlay, not just its data, or the Overlay Plane breaks
    basic = basic_action(tag)
    chosen = set(options.options)
    if (
        Option.RETAIN_PATIENT_CHARACTERISTICS in chosen
        and keyword in options.retain_patient_characteristics
    ):
        return "K"
    if basic is None:
        return BEYOND_TABLE.get(keyword, "K")
    if (
        Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in chosen
        and vr in DATE_VRS
        and keyword not in NEVER_SHIFTED
    ):
        return "S" if vr != "TM" else "K"  # whole-day shifts keep times of day
    if Option.CLEAN_DESCRIPTORS in chosen and keyword in CLEANED_DESCRIPTORS:
        return "C"
    resolved = _resolve_combined(basic)
    if resolved == "X" and keyword in EMPTIED_NOT_REMOVED:
        return "Z"
    if vr == "SQ" and resolved in ("D", "U", "C"):
        return "R"
    return resolved
