"""De-identify a DICOM file straight from its bytes: the fast path of ``from_dataset.Deidentifier``.

``Deidentifier.dataset`` works on a pydicom dataset; most of its time goes to
pydicom's machinery (raw-value conversion, ``Dataset`` bookkeeping, the
writer). For the common encoding, Explicit VR Little Endian, this module reads
the header's elements from the bytes, applies the very same decisions
(``Deidentifier.decide``: the same profile, the same per-(tag, VR) cache), the
same pseudonyms (``uid``, the subject's shift and codes, ``clean_descriptor``)
and the same dummies, and writes the result the way ``save_as`` writes it.
The tests check both paths give the same bytes and counts.

Only files this module can read with certainty take it. Anything else raises
``Fallback`` and the caller uses the pydicom path: another encoding, a public
element of VR UN (or a private one of undefined length), an unknown VR, an
undefined length outside sequences, tags out of order, a character set it does
not decode, a private block that is kept (allow-list), a multi-valued
descriptor, encapsulated pixels, elements after the pixels, a truncated or
malformed file. Doubt costs speed, never privacy: the independent verifier
checks every output either way.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO

from portal import __version__
from portal.deid import encoder
from portal.deid.from_dataset import (
    IMPLEMENTATION_CLASS_UID,
    PIXEL_KEYWORDS,
    SPECIAL_KEYWORDS,
    Deidentifier,
    Subject,
    clean_descriptor,
    shift_date,
)

EXPLICIT_LE = b"1.2.840.10008.1.2.1"
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UR", b"UT", b"UV"}
)
SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT"}
    | {b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)
#: VRs pydicom splits on backslashes; LT, ST, UT and UR hold one value.
SINGLE_VALUED = frozenset({"LT", "ST", "UT", "UR"})
#: Character sets whose bytes decode without escapes: (0008,0005) value -> codec.
CODECS = {b"": "latin-1", b"ISO_IR 6": "latin-1", b"ISO_IR 100": "latin-1", b"ISO_IR 192": "utf-8"}
BINARY_ZERO = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "UV": 8, "SV": 8}
MARK_TAGS = (0x00120062, 0x00120063, 0x00120064, 0x00280303)
#: Top-level values the quarantine checks read, kept as raw bytes.
FACT_TAGS = {
    0x00080016: "sop_class",
    0x00080018: "sop_instance",
    0x00080060: "modality",
    0x00280002: "samples",
    0x00280008: "frames",
    0x00280010: "rows",
    0x00280011: "columns",
    0x00280100: "bits",
    0x00280301: "burned",
}

_pack_tag = struct.Struct("<HH").pack
_unpack_tag = struct.Struct("<HH").unpack_from
_unpack_short = struct.Struct("<H").unpack_from
_unpack_long = struct.Struct("<I").unpack_from
_ITEM_HEAD = struct.pack("<HHI", 0xFFFE, 0xE000, UNDEFINED)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


class Fallback(Exception):
    """This file is not one the byte path reads with certainty: use the pydicom path."""


@dataclass(frozen=True)
class Facts:
    """What the quarantine checks need to know about an input file."""

    syntax: str
    sop_class: str
    sop_instance: str
    modality: str
    burned: str
    expected_pixel_bytes: int  # from the image's shape; 0 if it cannot be told
    pixel_bytes: int | None  # the pixel value's length as found, None if unknown


def pixel_bytes_of(rows: int, columns: int, samples: int, frames: int, bits: int) -> int:
    """How many bytes native pixel data of this shape takes."""
    return (rows * columns * samples * frames * bits + 7) // 8


@dataclass
class Deidentified:
    """A de-identified file: its new header, and where the input's pixel element lies."""

    encoded: bytes  # preamble, file meta and the de-identified dataset
    header: bytes | None  # the input's bytes before its pixel element; None: not split
    tail_offset: int
    tail_length: int
    counts: Counter[str]
    facts: Facts


def _element(tag: int, vr: str, data: bytes) -> bytes:
    """One element in Explicit VR Little Endian, as pydicom writes it."""
    if len(data) % 2:
        raise Fallback  # pydicom pads odd values by VR; never seen from a valid writer
    head = _pack_tag(tag >> 16, tag & 0xFFFF) + vr.encode("ascii")
    if vr.encode("ascii") in LONG_VRS:
        return head + struct.pack("<HI", 0, len(data)) + data
    if len(data) > 0xFFFF:
        raise Fallback
    return head + struct.pack("<H", len(data)) + data


def _text(tag: int, vr: str, text: str, codec: str = "ascii") -> bytes:
    data = text.encode(codec)
    if len(data) % 2:
        data += b"\x00" if vr == "UI" else b" "
    return _element(tag, vr, data)


def _sequence(tag: int, body: bytes, undefined: bool) -> bytes:
    head = _pack_tag(tag >> 16, tag & 0xFFFF) + b"SQ\x00\x00"
    if undefined:
        return head + struct.pack("<I", UNDEFINED) + body + _SEQUENCE_END
    return head + struct.pack("<I", len(body)) + body


class ByteDeidentifier:
    """The byte path of a ``Deidentifier``: same key, options, decisions and cache."""

    def __init__(self, deid: Deidentifier) -> None:
        self.deid = deid
        self.allow = bool(deid.options.private_allowlist)
        self._marked = self._marks(deid)
        self._version = f"PORTAL_{__version__}"[:16]

    @staticmethod
    def _marks(deid: Deidentifier) -> dict[int, bytes]:
        """The bytes of the elements ``Deidentifier.mark`` adds: the same for every file."""
        marked = Dataset()
        deid.mark(marked)
        out = {}
        for tag in marked.keys():  # noqa: SIM118 (tags)
            one = Dataset()
            one[tag] = marked[tag]
            buffer = DicomBytesIO()
            buffer.is_little_endian, buffer.is_implicit_VR = True, False
            encoder.write_dataset(buffer, one, "iso8859")
            out[int(tag)] = buffer.getvalue()
        assert tuple(sorted(out)) == MARK_TAGS, "the marks the byte path writes changed"
        return out

    # -- a whole file -------------------------------------------------------------------
    def file(self, path: Path, subject: Subject) -> Deidentified:
        """De-identify the file at ``path``; raise ``Fallback`` when it is not for this path."""
        if self.allow:
            raise Fallback  # kept private blocks: their creators are the pydicom path's job
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 144:
                raise Fallback
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                try:
                    return self._file(data, size, subject)
                except (struct.error, IndexError, UnicodeDecodeError, ValueError) as error:
                    raise Fallback from error

    def _file(self, data, size: int, subject: Subject) -> Deidentified:
        if data[128:132] != b"DICM":
            raise Fallback
        meta_end, syntax, meta_class = self._meta(data)
        if syntax != EXPLICIT_LE:
            raise Fallback
        walk = _Walk(self.deid, data, subject)
        entries, pixel_at = walk.dataset(meta_end, size, top=True)
        if pixel_at is None:
            raise Fallback  # no pixels, or not found where expected: the pydicom path says why
        vr = data[pixel_at + 4 : pixel_at + 6]
        if vr not in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV"):
            raise Fallback
        length = _unpack_long(data, pixel_at + 8)[0]
        if length == UNDEFINED or pixel_at + 12 + length != size:
            raise Fallback  # encapsulated, truncated, or elements after the pixels
        facts = walk.facts(syntax.decode(), length)
        for tag in MARK_TAGS:
            entries[tag] = self._marked[tag]
        sop_class = walk.kept_text.get(0x00080016) or meta_class
        sop_instance = walk.kept_text.get(0x00080018, "")
        meta = self._file_meta(sop_class, sop_instance, syntax.decode())
        body = b"".join(entries[tag] for tag in sorted(entries))
        return Deidentified(
            encoded=encoder.PREAMBLE + b"DICM" + meta + body,
            header=bytes(data[:pixel_at]),
            tail_offset=pixel_at,
            tail_length=size - pixel_at,
            counts=walk.counts,
            facts=facts,
        )

    @staticmethod
    def _meta(data) -> tuple[int, bytes, str]:
        """(end of the file meta, transfer syntax, media storage SOP class) of a file whose
        meta group starts with its group length, as Part 10 requires."""
        if _unpack_tag(data, 132) != (0x0002, 0x0000) or data[136:138] != b"UL":
            raise Fallback
        end = 144 + _unpack_long(data, 140)[0]
        pos, syntax, sop_class = 144, b"", ""
        while pos < end:
            group, element = _unpack_tag(data, pos)
            vr = bytes(data[pos + 4 : pos + 6])
            if group != 0x0002 or vr == b"UN" or (vr not in LONG_VRS and vr not in SHORT_VRS):
                raise Fallback
            if vr in LONG_VRS:
                length, value = _unpack_long(data, pos + 8)[0], pos + 12
            else:
                length, value = _unpack_short(data, pos + 6)[0], pos + 8
            if length == UNDEFINED:
                raise Fallback
            raw = bytes(data[value : value + length]).rstrip(b"\x00 ")
            if element == 0x0010:
                syntax = raw
            elif element == 0x0002:
                sop_class = raw.decode("ascii")
            pos = value + length
        if pos != end:
            raise Fallback
        return end, syntax, sop_class

    def _file_meta(self, sop_class: str, sop_instance: str, syntax: str) -> bytes:
        """The file meta ``Deidentifier._rebuild_file_meta`` makes, as ``save_as`` writes it."""
        body = (
            _element(0x00020001, "OB", b"\x00\x01")
            + _text(0x00020002, "UI", sop_class)
            + _text(0x00020003, "UI", sop_instance)
            + _text(0x00020010, "UI", syntax)
            + _text(0x00020012, "UI", IMPLEMENTATION_CLASS_UID)
            + _text(0x00020013, "SH", self._version)
        )
        return _element(0x00020000, "UL", struct.pack("<I", len(body))) + body


class _Walk:
    """One file's walk: the counts, the character set, and the facts met on the way."""

    def __init__(self, deid: Deidentifier, data, subject: Subject) -> None:
        self.deid = deid
        self.data = data
        self.subject = subject
        self.counts: Counter[str] = Counter()
        self.codec = "latin-1"  # pydicom's default when a file declares no character set
        self.depth = 0
        self.raw_facts: dict[str, tuple[str, bytes]] = {}
        self.kept_text: dict[int, str] = {}  # SOP class and instance UIDs, as written

    # -- navigation ---------------------------------------------------------------------
    def _header(self, pos: int) -> tuple[str, int, int]:
        """(VR, value length, value position) of the element at ``pos``."""
        data = self.data
        vr = bytes(data[pos + 4 : pos + 6])
        if vr in SHORT_VRS:
            return vr.decode(), _unpack_short(data, pos + 6)[0], pos + 8
        if vr in LONG_VRS or (vr == b"UN" and data[pos] & 1):  # private UN: removed
            if data[pos + 6 : pos + 8] != b"\x00\x00":
                raise Fallback
            length = _unpack_long(data, pos + 8)[0]
            if vr == b"UN" and length == UNDEFINED:
                raise Fallback  # a private sequence sent as UN: implicit VR inside
            return vr.decode(), length, pos + 12
        raise Fallback  # UN in a public element, or not a VR at all

    def dataset(self, pos: int, end: int, *, top: bool = False, delimited: bool = False):
        """De-identify the elements from ``pos`` up to ``end``, or up to the item delimiter
        of an item of undefined length (``delimited``).

        Returns ({tag: encoded element}, position): at the top level the position is
        where the pixel element starts (None if none was met); in an item it is the
        position after the item."""
        entries: dict[int, bytes] = {}
        self.depth += not top
        last = -1
        data = self.data
        while pos < end:
            if pos + 8 > end:
                raise Fallback
            group, element = _unpack_tag(data, pos)
            tag = (group << 16) | element
            if tag == ITEM_END:
                if not delimited or _unpack_long(data, pos + 4)[0] != 0:
                    raise Fallback
                self.depth -= 1
                return entries, pos + 8
            if top and tag in PIXEL_TAGS:
                return entries, pos
            if tag <= last or group < 0x0004:  # command or file meta groups: not here
                raise Fallback
            last = tag
            vr, length, value = self._header(pos)
            if length == UNDEFINED:
                if vr != "SQ":
                    raise Fallback
                items, after = self._items(value, None)
            elif value + length > end:
                raise Fallback
            else:
                items, after = None, value + length
                if vr == "SQ":
                    items, stop = self._items(value, value + length)
                    if stop != after:
                        raise Fallback
            encoded = self._one(tag, vr, value, length, items)
            if encoded is not None and not (element == 0 and group > 6):
                entries[tag] = encoded
            pos = after
        if delimited:
            raise Fallback  # an item of undefined length must end with its delimiter
        self.depth -= not top
        return entries, None

    def _items(self, pos: int, end: int | None):
        """The items of a sequence, undecided: [(start, end, undefined item)], and the
        position after the sequence."""
        data = self.data
        limit = len(data) if end is None else end
        items = []
        while pos < limit:
            group, element = _unpack_tag(data, pos)
            item_tag = (group << 16) | element
            length = _unpack_long(data, pos + 4)[0]
            if item_tag == SEQUENCE_END:
                if end is not None or length != 0:
                    raise Fallback
                return items, pos + 8
            if item_tag != ITEM:
                raise Fallback
            start = pos + 8
            if length == UNDEFINED:
                stop = self._skip_item(start)
                items.append((start, stop, True))
                pos = stop
            else:
                if start + length > limit:
                    raise Fallback
                items.append((start, start + length, False))
                pos = start + length
        if end is None:
            raise Fallback  # no sequence delimiter before the end of the file
        return items, pos

    def _skip_item(self, pos: int) -> int:
        """The position after an undefined-length item: its elements, then its delimiter."""
        data = self.data
        while True:
            group, element = _unpack_tag(data, pos)
            if (group << 16) | element == ITEM_END:
                return pos + 8
            vr, length, value = self._header(pos)
            if length == UNDEFINED:
                if vr != "SQ":
                    raise Fallback
                _, pos = self._items(value, None)
            else:
                pos = value + length
                if pos > len(data):
                    raise Fallback

    # -- one element --------------------------------------------------------------------
    def _one(self, tag, vr, value, length, items) -> bytes | None:
        data = self.data
        if (tag >> 16) & 1:  # private: none is kept without an allow-list
            self.counts["X-private"] += 1
            return None
        keyword, action = self.deid.decision(tag, vr)
        raw = data[value : value + length] if items is None else b""
        if tag == 0x00080005:
            if self.depth:
                raise Fallback  # a character set of its own inside an item
            self.codec = CODECS.get(bytes(raw).rstrip(b" \x00"), "")
        if tag in FACT_TAGS_SET and not self.depth:
            self.raw_facts[FACT_TAGS[tag]] = (vr, bytes(raw))
        if keyword in PIXEL_KEYWORDS:
            self.counts["K"] += 1
            return self._kept(tag, vr, raw, items)
        if keyword in SPECIAL_KEYWORDS:
            special = self._special(keyword, tag, vr)
            if special is not None:
                self.counts["P"] += 1
                return special
        self.counts[action] += 1
        if action == "K":
            return self._kept(tag, vr, raw, items)
        if action == "X":
            return None
        if action == "R" or (action == "U" and vr == "SQ"):
            if items is None:
                raise Fallback
            return self._recurse(tag, items, length == UNDEFINED)
        if vr == "SQ":  # Z or D: an empty sequence, its length as it was read
            if action not in ("Z", "D"):
                raise Fallback
            return _sequence(tag, b"", length == UNDEFINED)
        if action == "Z":
            return _element(tag, vr, b"")
        if action == "U":
            return self._uids(tag, vr, raw)
        if action == "D":
            return self._dummy(tag, vr, raw)
        if action == "S":
            return self._dates(tag, vr, raw)
        if action == "C":
            return self._clean(tag, vr, raw)
        raise Fallback

    def _kept(self, tag: int, vr: str, raw, items) -> bytes:
        if items is not None:
            raise Fallback  # a kept sequence is never decided (sequences are recursed)
        if tag in (0x00080016, 0x00080018) and not self.depth:
            self.kept_text[tag] = self._ascii(raw).rstrip("\x00 ")
        return _element(tag, vr, bytes(raw))

    def _special(self, keyword: str, tag: int, vr: str) -> bytes | None:
        if keyword in ("PatientID", "PatientName"):
            return _text(tag, vr, self.subject.pseudonym)
        if keyword == "InstitutionName" and self.subject.centre_code:
            return _text(tag, vr, self.subject.centre_code)
        return None

    def _recurse(self, tag: int, items, undefined: bool) -> bytes:
        parts = []
        for start, stop, undefined_item in items:
            entries, _ = self.dataset(start, stop, delimited=undefined_item)
            body = b"".join(entries[t] for t in sorted(entries))
            if undefined_item:
                parts.append(_ITEM_HEAD + body + _ITEM_END)
            else:
                parts.append(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)
        return _sequence(tag, b"".join(parts), undefined)

    # -- values -------------------------------------------------------------------------
    @staticmethod
    def _ascii(raw) -> str:
        return bytes(raw).decode("ascii")

    def _values(self, raw) -> list[str] | None:
        """The values of an ASCII-only element (UI, DA, DT) as pydicom gives them; None
        when it holds no value."""
        text = self._ascii(raw).rstrip("\x00 ")
        if not text:
            return None
        return text.split("\\")

    def _uids(self, tag: int, vr: str, raw) -> bytes:
        if vr != "UI":
            raise Fallback
        values = self._values(raw)
        if values is None:
            return _element(tag, vr, b"")
        mapped = [self.deid.uid(v) for v in values]
        text = "\\".join(mapped)
        if tag == 0x00080018 and not self.depth:
            self.kept_text[tag] = text
        return _text(tag, vr, text)

    def _dates(self, tag: int, vr: str, raw) -> bytes | None:
        values = self._values(raw)
        if values is None:
            return _element(tag, vr, b"")
        shifted = [shift_date(v, vr, self.subject.shift_days) for v in values]
        if any(v is None for v in shifted):
            self.counts["X"] += 1
            return None
        return _text(tag, vr, "\\".join(shifted))  # type: ignore[arg-type]

    def _dummy(self, tag: int, vr: str, raw) -> bytes:
        if vr == "UI":
            return self._uids(tag, vr, raw)
        value = self.deid.dummy_value(vr, self.subject)
        if isinstance(value, str) and vr in encoder.TEXT_VRS:
            return _text(tag, vr, value)
        if value == 0 and vr in BINARY_ZERO:
            return _element(tag, vr, b"\x00" * BINARY_ZERO[vr])
        if value == b"":
            return _element(tag, vr, b"")
        raise Fallback

    def _clean(self, tag: int, vr: str, raw) -> bytes | None:
        # a character set this path does not decode: plain ASCII reads the same in all
        text = bytes(raw).decode(self.codec or "ascii").rstrip("\x00 ")
        if "\\" in text and vr not in SINGLE_VALUED:
            raise Fallback  # pydicom reads several values; its text of them differs
        cleaned = clean_descriptor(text)
        if not cleaned:
            return None
        return _text(tag, vr, cleaned, "ascii" if cleaned.isascii() else self.codec or "ascii")

    # -- facts --------------------------------------------------------------------------
    def facts(self, syntax: str, pixel_bytes: int) -> Facts:
        found = self.raw_facts

        def text(name: str) -> str:
            raw = found.get(name, ("", b""))[1]
            value = self._ascii(raw).strip("\x00 ")
            if "\\" in value:
                raise Fallback
            return value

        def number(name: str) -> int | None:
            if name not in found:
                return None
            vr, raw = found[name]
            if vr == "US" and len(raw) == 2:
                return _unpack_short(raw, 0)[0]
            if vr == "IS":
                value = self._ascii(raw).strip("\x00 ")
                return int(value) if value else None
            raise Fallback

        rows, columns, bits = number("rows"), number("columns"), number("bits")
        expected = 0
        if rows is not None and columns is not None and bits is not None:
            samples = number("samples")
            expected = pixel_bytes_of(
                rows, columns, 1 if samples is None else samples, number("frames") or 1, bits
            )
        return Facts(
            syntax=syntax,
            sop_class=text("sop_class"),
            sop_instance=text("sop_instance"),
            modality=text("modality"),
            burned=text("burned"),
            expected_pixel_bytes=expected,
            pixel_bytes=pixel_bytes,
        )


FACT_TAGS_SET = frozenset(FACT_TAGS)
