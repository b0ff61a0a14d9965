"""A small byte-level DICOM reader, used by the verifier only.

The verifier must not trust the code path the de-identifier uses, and that
includes pydicom's parser: a parsing quirk that hid an element from the
de-identifier would hide it from a pydicom-based verifier too. This reader
walks the bytes itself (file meta, explicit or implicit VR little endian,
sequences and items of defined or undefined length, private blocks) and yields
every element at every depth with its decoded text. Only pydicom's *data
dictionary* is consulted, for the VR of implicit-VR elements.

Files in other encodings (big endian, deflated) are reported as such, so the
caller can fall back to a full parser.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from pydicom.datadict import dictionary_VR, keyword_for_tag

LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
TEXT_VRS = frozenset(
    {
        "AE",
        "AS",
        "CS",
        "DA",
        "DS",
        "DT",
        "IS",
        "LO",
        "LT",
        "PN",
        "SH",
        "ST",
        "TM",
        "UC",
        "UI",
        "UR",
        "UT",
    }
)
BYTE_VRS = frozenset({"OB", "UN"})
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
IMPLICIT_LE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
UNDEFINED = 0xFFFFFFFF
MAX_BYTES_DECODED = 65536
CHARSETS = {"ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8", "ISO_IR 6": "latin-1", "": "latin-1"}


_KEYWORDS: dict[int, str] = {}


class UnsupportedEncoding(Exception):
    """The file uses an encoding this reader leaves to a full parser."""


class RawElement(NamedTuple):
    """One element as the bytes say it: where, what, and its values as text.

    A named tuple: files hold hundreds of elements, and a tuple is made fastest."""

    path: str  # e.g. "(0040,0275)[0]/(0008,0050)", "meta/(0002,0003)"
    tag: int
    vr: str
    values: tuple[str, ...]  # decoded values; empty for binary data and sequences
    creator: str  # the private creator of a private element, else ""

    @property
    def keyword(self) -> str:
        keyword = _KEYWORDS.get(self.tag)
        if keyword is None:  # the dictionary lookup is slow; files repeat their tags
            keyword = _KEYWORDS[self.tag] = keyword_for_tag(self.tag) or ""
        return keyword

    @property
    def is_private(self) -> bool:
        return bool((self.tag >> 16) & 1)

    @property
    def is_private_creator(self) -> bool:
        tag = self.tag
        return bool((tag >> 16) & 1) and 0x0010 <= (tag & 0xFFFF) <= 0x00FF


class _Reader:
    def __init__(self, data: bytes, implicit: bool, encoding: str = "latin-1") -> None:
        self.data = data
        self.implicit = implicit
        self.encoding = encoding

    def header(self, pos: int, implicit: bool) -> tuple[int, str, int, int]:
        """(tag, VR, value length, position of the value) of the element at ``pos``."""
        data = self.data
        group, element = struct.unpack_from("<HH", data, pos)
        tag = (group << 16) | element
        if tag in (ITEM, ITEM_END, SEQUENCE_END):
            return tag, "", struct.unpack_from("<I", data, pos + 4)[0], pos + 8
        if implicit:
            length = struct.unpack_from("<I", data, pos + 4)[0]
            return tag, _implicit_vr(tag), length, pos + 8
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            return tag, vr.decode("ascii"), struct.unpack_from("<I", data, pos + 8)[0], pos + 12
        return (
            tag,
            vr.decode("ascii", "replace"),
            struct.unpack_from("<H", data, pos + 6)[0],
            pos + 8,
        )

    def walk(self, pos: int, end: int, prefix: str, implicit: bool) -> Iterator[RawElement | int]:
        """Elements from ``pos`` to ``end``; yields the end position last (as an int)."""
        creators: dict[tuple[int, int], str] = {}
        data = self.data
        while pos < end and pos + 8 <= len(data):
            tag, vr, length, value_pos = self.header(pos, implicit)
            if tag in (ITEM_END, SEQUENCE_END):
                yield value_pos
                return
            path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
            group = tag >> 16
            creator = ""
            if group & 1 and 0x10 <= (tag & 0xFFFF) <= 0xFF and length != UNDEFINED:
                creators[(group, tag & 0xFF)] = self._text(data[value_pos : value_pos + length])
            elif group & 1 and (tag & 0xFFFF) >= 0x1000:
                creator = creators.get((group, (tag >> 8) & 0xFF), "")
            if vr == "UN" and not group & 1 and _implicit_vr(tag) == "SQ":
                vr = "SQ"  # a sequence sent as UN: its items are implicit VR (PS3.5 6.2.2)
                implicit_items = True
            else:
                implicit_items = implicit
            if vr == "SQ" or (length == UNDEFINED and tag not in PIXEL_TAGS):
                yield RawElement(path, tag, "SQ", (), creator)
                inner = implicit_items or vr == "UN"  # UN of undefined length: implicit VR
                pos = yield from self._sequence(value_pos, length, path, inner)
                continue
            if tag in PIXEL_TAGS:
                yield RawElement(path, tag, vr, (), creator)
                pos = self._skip_pixels(value_pos, length)
                continue
            if value_pos + length > len(data):
                raise ValueError(f"element {path} runs past the end of the file")
            raw = data[value_pos : value_pos + length]
            if tag == 0x00080005:
                self.encoding = _charset(raw)
            yield RawElement(path, tag, vr, self._values(vr, raw), creator)
            pos = value_pos + length
        yield pos

    def _sequence(self, pos: int, length: int, path: str, implicit: bool):
        end = len(self.data) if length == UNDEFINED else pos + length
        index = 0
        while pos < end and pos + 8 <= len(self.data):
            tag, _, item_length, value_pos = self.header(pos, implicit)
            if tag == SEQUENCE_END:
                return value_pos
            if tag != ITEM:
                raise ValueError(
                    f"{path}: expected an item, found ({tag >> 16:04X},{tag & 0xFFFF:04X})"
                )
            item_end = len(self.data) if item_length == UNDEFINED else value_pos + item_length
            last = value_pos
            for found in self.walk(value_pos, item_end, f"{path}[{index}]/", implicit):
                if isinstance(found, int):
                    last = found
                else:
                    yield found
            pos = item_end if item_length != UNDEFINED else last
            index += 1
        return pos

    def _skip_pixels(self, pos: int, length: int) -> int:
        if length != UNDEFINED:
            return pos + length
        while pos + 8 <= len(self.data):  # encapsulated fragments up to the delimiter
            tag, _, fragment, value_pos = self.header(pos, False)
            pos = value_pos + (0 if tag == SEQUENCE_END else fragment)
            if tag == SEQUENCE_END:
                break
        return pos

    def _text(self, raw: bytes) -> str:
        return raw.decode(self.encoding, "replace").rstrip("\x00 ")

    def _values(self, vr: str, raw: bytes) -> tuple[str, ...]:
        if vr in TEXT_VRS:
            text = self._text(raw)
            if vr in ("LT", "ST", "UT", "UR"):
                return (text,) if text else ()
            return tuple(v.strip() for v in text.split("\\") if v.strip())
        if vr in BYTE_VRS and len(raw) <= MAX_BYTES_DECODED:
            text = raw.decode("latin-1").strip("\x00 ")
            return (text,) if text else ()
        return ()


def _implicit_vr(tag: int) -> str:
    if (tag >> 16) & 1:
        return "LO" if 0x10 <= (tag & 0xFFFF) <= 0xFF else "UN"
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    return vr.split(" or ")[0] if vr else "UN"


def _charset(raw: bytes) -> str:
    first = raw.decode("ascii", "replace").split("\\")[0].strip()
    return CHARSETS.get(first, "latin-1")


def read_elements(path: Path, data: bytes | mmap.mmap | None = None) -> Iterator[RawElement]:
    """Every element of a DICOM Part 10 file, file meta included, pixels skipped.

    ``data`` may hold the file's bytes already, or only its header (everything
    before the pixel element): the walk simply ends where the bytes end.
    """
    if data is None:
        data = Path(path).read_bytes()
    if len(data) < 132 or data[128:132] != b"DICM":
        raise ValueError("not a DICOM Part 10 file")
    meta_end = _meta_end(data)
    syntax = ""
    for found in _Reader(data, implicit=False).walk(132, meta_end, "meta/", implicit=False):
        if isinstance(found, int):
            break
        if found.tag == 0x00020010 and found.values:
            syntax = found.values[0]
        yield found
    if not syntax or syntax in (BIG_ENDIAN, DEFLATED):
        raise UnsupportedEncoding(syntax)  # every other syntax encodes the dataset in LE
    implicit = syntax == IMPLICIT_LE
    for found in _Reader(data, implicit=implicit).walk(meta_end, len(data), "", implicit):
        if not isinstance(found, int):
            yield found


def _meta_end(data: bytes) -> int:
    """End of the file meta group, from its group length (0002,0000)."""
    group, element = struct.unpack_from("<HH", data, 132)
    if (group, element) == (0x0002, 0x0000) and data[136:138] == b"UL":
        return 144 + struct.unpack_from("<I", data, 140)[0]
    pos = 132  # no group length: walk until the group changes
    while pos + 8 <= len(data):
        group = struct.unpack_from("<H", data, pos)[0]
        if group != 0x0002:
            return pos
        vr = data[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            pos += 12 + struct.unpack_from("<I", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return pos
