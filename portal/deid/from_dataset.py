"""De-identify one DICOM dataset under a ``DeidOptions`` profile.

Every element is visited, at every sequence depth, file meta included; each
gets exactly one action from ``portal.deid.profile``. Pseudonyms are consistent:
UIDs are replaced by keyed-hash UIDs (HMAC-SHA256 under a key that never
enters a release), each patient gets one pseudonymous ID and one date shift
for all their exams, and centres become codes. Pixel data is never touched.

``portal.verify_deid`` checks the result and shares no code with this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from portal import __version__
from portal.deid.profile import DeidOptions, action_for

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1462.2"
UID_ROOT = "2.25."  # UUID-derived UIDs (PS3.5 B.2): no registered root needed
#: Shifts land 100 to 110 years back, so no shifted date can equal a real one.
SHIFT_MIN_DAYS = 36525
SHIFT_SPAN_DAYS = 3653
DUMMY_TEXT = "REMOVED"

#: Words a cleaned descriptor may keep: imaging and clinical vocabulary, no names.
SAFE_WORDS = frozenset(
    line.strip()
    for line in (files("portal.deid") / "descriptor_words.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


def _fold(text: str) -> str:
    """Lower case without accents, for comparing words."""
    return "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )


def clean_descriptor(text: str) -> str:
    """Keep only the words of ``text`` known not to identify anyone; drop all others."""
    words = re.split(r"[\s,;:/\\()\[\]_.'\"!?+=*#@&^<>|]+", text)
    kept = [w for w in words if w and _fold(w) in SAFE_WORDS]
    return " ".join(kept)


@dataclass(frozen=True)
class Subject:
    """Who a file belongs to, in pseudonymous terms."""

    pseudonym: str  # replaces PatientID and PatientName
    shift_days: int  # added to every date; negative
    centre_code: str | None = None  # replaces InstitutionName


class Deidentifier:
    """Applies the profile; holds the key, so it must never be serialised into a release."""

    def __init__(self, key: bytes, options: DeidOptions) -> None:
        if len(key) < 16:
            raise ValueError("the de-identification key must be at least 16 bytes")
        self._key = key
        self.options = options
        self._allow = {entry.upper() for entry in options.private_allowlist}
        self._decided: dict[tuple[int, str | None], tuple[str, str]] = {}

    # -- pseudonyms -------------------------------------------------------------------
    def _digest(self, *parts: str) -> bytes:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def uid(self, value: str) -> str:
        """The keyed-hash replacement of a UID: same input, same output, not reversible."""
        value = value.strip().rstrip("\x00")
        if not value or value.startswith("1.2.840.10008."):
            return value  # empty, or a UID the standard defines (classes, syntaxes)
        return UID_ROOT + str(int.from_bytes(self._digest("uid", value)[:16], "big"))

    def shift_for(self, patient_key: str) -> int:
        """One date shift per patient, in days: between -100 and -110 years."""
        number = int.from_bytes(self._digest("shift", patient_key)[:8], "big")
        return -(SHIFT_MIN_DAYS + number % SHIFT_SPAN_DAYS)

    # -- the walk ---------------------------------------------------------------------
    def dataset(self, ds: Dataset, subject: Subject) -> Counter[str]:
        """De-identify ``ds`` in place; return how many elements got each action."""
        counts: Counter[str] = Counter()
        self._walk(ds, subject, counts)
        self._rebuild_file_meta(ds)
        self.mark(ds)
        return counts

    def _walk(self, ds: Dataset, subject: Subject, counts: Counter[str]) -> None:
        self._walk_elements(ds, subject, counts)
        self._drop_orphan_creators(ds, counts)

    def _walk_elements(self, ds: Dataset, subject: Subject, counts: Counter[str]) -> None:
        """Decide each element's action from its tag and VR; convert (decode) only the
        elements whose value changes, so kept elements are written back as they came."""
        for tag in [BaseTag(t) for t in ds.keys()]:  # noqa: SIM118 (tags, not elements)
            if tag.is_private:
                self._private(ds, tag, counts)
                continue
            keyword, action = self.decision(int(tag), ds.get_item(tag).VR)
            if keyword in PIXEL_KEYWORDS:
                counts["K"] += 1
                continue
            if keyword in SPECIAL_KEYWORDS:
                special = self._special(ds[tag], subject)
                if special:
                    counts[special] += 1
                    continue
            counts[action] += 1
            if action == "K":
                continue
            if action == "X":
                del ds[tag]
                continue
            self._apply(ds, ds[tag], action, subject, counts)

    def decision(self, tag: int, raw_vr: str | None) -> tuple[str, str]:
        """(keyword, action) of a public element: a function of its tag and its VR as
        read only, so it is decided once per de-identifier and remembered."""
        key = (tag, raw_vr)  # plain ints: BaseTag compares in Python, slowly
        decided = self._decided.get(key)
        if decided is None:
            decided = self._decided[key] = self._decide(BaseTag(tag), raw_vr)
        return decided

    def _decide(self, tag: BaseTag, raw_vr: str | None) -> tuple[str, str]:
        keyword = keyword_for_tag(tag) or ""
        vr = _vr_of(raw_vr, tag)
        action = action_for(int(tag), keyword, vr, self.options)
        if vr == "SQ" and action == "K":
            action = "R"  # kept sequences are still searched inside
        if vr == "UI" and action == "K" and not keyword.endswith("ClassUID"):
            action = "U"  # privacy first: instance UIDs outside the table too
        return keyword, action

    def _special(self, elem: DataElement, subject: Subject) -> str | None:
        keyword = elem.keyword
        if keyword in ("PatientID", "PatientName"):
            elem.value = subject.pseudonym
            return "P"
        if keyword == "InstitutionName" and subject.centre_code:
            elem.value = subject.centre_code
            return "P"
        return None

    def _apply(
        self, ds: Dataset, elem: DataElement, action: str, subject: Subject, counts: Counter[str]
    ) -> None:
        if action in ("K", "P"):
            return
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = Sequence([]) if elem.VR == "SQ" else None
        elif action == "D":
            elem.value = self._dummy(elem, subject)
        elif action == "U":
            if elem.VR == "SQ":
                self._recurse(elem, subject, counts)
            else:
                elem.value = self._map_values(elem, self.uid)
        elif action == "S":
            shifted = self._map_values(elem, lambda v: shift_date(v, elem.VR, subject.shift_days))
            if shifted is None:
                del ds[elem.tag]
                counts["X"] += 1
            else:
                elem.value = shifted
        elif action == "C":
            cleaned = clean_descriptor(str(elem.value or ""))
            if cleaned:
                elem.value = cleaned
            else:
                del ds[elem.tag]
        elif action == "R":
            self._recurse(elem, subject, counts)

    def _recurse(self, elem: DataElement, subject: Subject, counts: Counter[str]) -> None:
        for item in elem.value or []:
            self._walk(item, subject, counts)

    @staticmethod
    def _map_values(elem: DataElement, function):
        if elem.value is None or elem.value == "":
            return elem.value
        if elem.VM > 1:
            values = [function(str(v)) for v in elem.value]
            return None if any(v is None for v in values) else values
        return function(str(elem.value))

    def _dummy(self, elem: DataElement, subject: Subject):
        if elem.VR == "UI":
            return self._map_values(elem, self.uid)
        return self.dummy_value(elem.VR, subject)

    @staticmethod
    def dummy_value(vr: str, subject: Subject):
        """The dummy of a VR other than UI (whose UIDs are remapped instead)."""
        if vr == "SQ":
            return Sequence([])
        if vr == "DA":
            return shift_date("20000101", "DA", subject.shift_days)
        if vr == "DT":
            return shift_date("20000101000000", "DT", subject.shift_days)
        if vr == "TM":
            return "000000"
        if vr in ("IS", "DS"):
            return "0"
        if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
            return 0
        if vr == "AS":
            return "000Y"
        if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            return b""
        if vr == "CS":
            return DUMMY_TEXT
        return DUMMY_TEXT

    @staticmethod
    def _drop_orphan_creators(ds: Dataset, counts: Counter[str]) -> None:
        """Remove private creators whose block has no element left."""
        blocks = {
            (t.group, (t.element >> 8) & 0xFF)
            for t in map(BaseTag, ds.keys())
            if t.is_private and not t.is_private_creator
        }
        for tag in [BaseTag(t) for t in ds.keys()]:  # noqa: SIM118 (tags, not elements)
            if tag.is_private_creator and (tag.group, tag.element & 0xFF) not in blocks:
                del ds[tag]
                counts["X-private"] += 1

    def _private(self, ds: Dataset, tag: BaseTag, counts: Counter[str]) -> None:
        if tag.is_private_creator:
            return  # handled once the block's elements are decided
        creator_tag = (tag.group << 16) | ((tag.element >> 8) & 0xFF)
        creator = ds.get(creator_tag)
        name = str(creator.value).strip().upper() if creator is not None else ""
        key = f"{name}|{tag.group:04X},XX{tag.element & 0xFF:02X}"
        if key in self._allow:
            counts["K-private"] += 1
            return
        del ds[tag]
        counts["X-private"] += 1

    def _rebuild_file_meta(self, ds: Dataset) -> None:
        old = getattr(ds, "file_meta", None)
        meta = FileMetaDataset()
        syntax = old.get("TransferSyntaxUID") if old is not None else None
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "") or (
            old.get("MediaStorageSOPClassUID", "") if old is not None else ""
        )
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
        if syntax:
            meta.TransferSyntaxUID = syntax
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = f"PORTAL_{__version__}"[:16]
        ds.file_meta = meta

    def mark(self, ds: Dataset) -> None:
        """Say, in ``ds``, that it was de-identified and how (PS3.15 E.1.1)."""
        ds.PatientIdentityRemoved = "YES"
        codes = self.options.codes()
        ds.DeidentificationMethod = "PS3.15 E " + " ".join(code for code, _ in codes)
        items = []
        for value, meaning in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        if any(o.value == "113107" for o in self.options.options):
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        else:
            ds.LongitudinalTemporalInformationModified = "REMOVED"


PIXEL_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
SPECIAL_KEYWORDS = frozenset({"PatientID", "PatientName", "InstitutionName"})


def _vr_of(raw_vr: str | None, tag: BaseTag) -> str:
    """The VR to decide with: the dictionary's when the file says nothing or UN
    (a sequence sent as UN must still be searched inside)."""
    if raw_vr and raw_vr != "UN":
        return raw_vr
    try:
        return dictionary_VR(tag).split(" or ")[0]
    except KeyError:
        return raw_vr or "UN"


_DATE = re.compile(r"^(\d{8})(.*)$")


def shift_date(value: str, vr: str, days: int) -> str | None:
    """Shift a DA or DT value by ``days``; ``None`` when it cannot be read (then removed)."""
    value = value.strip()
    if not value:
        return value
    if vr == "DA" and "-" in value:  # a date range
        parts = [shift_date(p, "DA", days) if p else "" for p in value.split("-")]
        return None if None in parts else "-".join(parts)  # type: ignore[arg-type]
    match = _DATE.match(value)
    if not match:
        return None
    try:
        day = dt.datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    moved = day + dt.timedelta(days=days)
    if moved.year < 1:
        return None
    return f"{moved:%Y%m%d}" + (match.group(2) if vr == "DT" else "")
