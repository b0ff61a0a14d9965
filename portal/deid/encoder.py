"""Serialise a de-identified dataset quickly, with the bytes pydicom's ``save_as`` writes.

After de-identification most elements are still as read (pydicom keeps them as raw
bytes until a value is looked at); only the changed ones were decoded. pydicom's
writer spends most of its time on per-element machinery, kept elements included.
Here kept elements are copied as they came, changed elements go through pydicom's
own element writer, and sequences are walked the same way at every depth.

Only the common case takes this path: Explicit VR Little Endian, written in the
encoding and character set it was read in. Anything else returns ``None`` and the
caller uses ``save_as``. The preamble is always 128 zero bytes: the input's preamble
may carry anything (a TIFF header, a vendor's notes) and is never copied.
The tests check the output against ``save_as`` byte for byte on real-world files.
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

PREAMBLE = b"\x00" * 128
_LONG = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
#: VRs whose value is text; ASCII text encodes the same in every character set a
#: dataset may declare (ISO 2022 escapes only non-ASCII), so it is written here.
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC"}
    | {"UI", "UR", "UT"}
)


def encode_file(ds: Dataset) -> bytes | None:
    """The DICOM file (preamble, file meta, dataset) for ``ds``, or ``None`` when the
    dataset is not in the one encoding this fast path handles."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return None
    if tuple(ds.original_encoding) != (False, True):
        return None
    if ds.original_character_set != ds._character_set:
        return None
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    out.write(PREAMBLE + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    try:
        write_dataset(out, ds, ds.get("SpecificCharacterSet", "iso8859"))
    except _Unusual:
        return None
    return out.getvalue()


class _Unusual(Exception):
    """Something this fast path does not write exactly as pydicom would."""


def write_dataset(out: DicomBytesIO, ds: Dataset, parent_encoding) -> None:
    """Every element of ``ds`` in tag order, sequences at every depth."""
    if tuple(ds.original_encoding) not in ((False, True), (None, None)):
        raise _Unusual
    encoding = ds.get("SpecificCharacterSet", parent_encoding)
    items = ds._dict
    for tag in sorted(items):
        if (tag & 0xFFFF) == 0 and (tag >> 16) > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        elem = items[tag]
        if getattr(elem, "is_raw", False):
            _raw(out, elem)
        elif elem.VR == "SQ":
            _sequence(out, elem, encoding)
        elif elem.VR not in TEXT_VRS or not _text(out, elem):
            write_data_element(out, elem, encoding)


def _element(out: DicomBytesIO, tag: int, vr: str, data: bytes) -> bool:
    """Write one element in Explicit VR Little Endian; False (nothing written) when the
    value is too long for its VR's 2-byte length, which pydicom would rewrite as UN."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr in _LONG:
        out.write(head + struct.pack("<HI", 0, len(data)) + data)
    elif len(data) > 0xFFFF:
        return False
    else:
        out.write(head + struct.pack("<H", len(data)) + data)
    return True


def _raw(out: DicomBytesIO, elem) -> None:
    """A kept element: its header, and its bytes as read."""
    vr, value = elem.VR, elem.value
    if vr is None or len(vr) != 2 or elem.length == 0xFFFFFFFF or value is None:
        raise _Unusual  # undefined length or unknown VR: leave it to pydicom
    if not _element(out, elem.tag, vr, value):
        raise _Unusual


def _text(out: DicomBytesIO, elem) -> bool:
    """A changed text element whose value is plain ASCII; False: let pydicom write it."""
    value = elem.value
    if value is None or value == "":
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, PersonName) and "=" not in str(value):
        text = str(value)
    elif isinstance(value, MultiValue | list) and all(type(v) is str for v in value):
        text = "\\".join(value)
    else:
        return False
    if not text.isascii():
        return False
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\x00" if elem.VR == "UI" else b" "
    return _element(out, elem.tag, elem.VR, data)


def _sequence(out: DicomBytesIO, elem, encoding) -> None:
    """As pydicom writes it: the sequence's length as read (undefined, or computed), each
    item of computed length unless it was read with an undefined one."""
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    for item in elem.value or []:
        start = body.tell()
        body.write(_ITEM)
        write_dataset(body, item, encoding)
        if getattr(item, "is_undefined_length_sequence_item", False):
            body.write(_ITEM_END)
        else:
            end = body.tell()
            body.seek(start + 4)
            body.write(struct.pack("<I", end - start - 8))
            body.seek(end)
    value = body.getvalue()
    undefined = elem.is_undefined_length
    tag = elem.tag
    out.write(
        struct.pack("<HH", tag >> 16, tag & 0xFFFF)
        + b"SQ"
        + struct.pack("<HI", 0, 0xFFFFFFFF if undefined else len(value))
        + value
    )
    if undefined:
        out.write(_SEQUENCE_END)
