"""``portal ingest``: export → validated, de-identified, verified staging.

Layout written under ``data/<challenge>/``::

    staging/                  releasable, replaced atomically, only after the verifier passes
        dicom/<exam_id>/<n>.dcm
        labels.csv  splits.csv  clinical.csv   (centres as codes)
        deid_report.json      profile, options (CID 7050), counts per action,
                              per-file outcome, quarantine reasons, verifier result
    private/                  never released
        quarantine/<exam_id>/<file>  the unusable input files, untouched
        sources.json          output file -> input file, for the interval check
        verify-findings.json  what the verifier found, when it refused
    .ingest-work/             per-file results of an unfinished run (resume)

The work is split per file and runs on all cores; each finished file leaves a
result record, so an interrupted ingest resumes where it stopped. Quarantine
reasons name the exam, never the input file name (which may carry an ID), and
carry a stable code (``QUARANTINE_CODES``) that scripts can rely on.

An ingest never replaces a staging with a much smaller one by accident: when no
exam survives, or fewer than ``SHRINK_LIMIT`` of the exams the current staging
holds, it refuses and leaves the staging as it is (``allow_shrink`` overrides
the second rule, for an export that really shrank).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import itertools
import json
import mmap
import os
import shutil
import struct
import tempfile
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from portal import __version__
from portal.core import atomic
from portal.core.schema import ChallengeSchema
from portal.core.workers import process_pool, start_server
from portal.deid.encoder import encode_file
from portal.deid.from_bytes import ByteDeidentifier, Deidentified, Facts, Fallback, pixel_bytes_of
from portal.deid.from_dataset import Deidentifier, Subject
from portal.deid.keys import key_id, key_source
from portal.deid.profile import PROFILE_DATABASE, DeidOptions
from portal.errors import InputError, OutputExistsError, PortalError, VerificationError
from portal.export.contract import check_export
from portal.ingest.records import WorkStore
from portal.ingest.report import json_list_lines, write_report
from portal.verify_deid.store import StoredValues
from portal.verify_deid.verifier import IdentifyingValues, verify_tree

#: what the pools' fork server imports once: every worker is then forked ready, the
#: verifier's too, instead of importing pydicom and the portal again (about 0.4 s a pool)
POOL_PRELOAD = ["portal.ingest.staging", "portal.verify_deid.verifier"]
SUPPORTED_SYNTAXES = {
    ImplicitVRLittleEndian: "Implicit VR Little Endian",
    ExplicitVRLittleEndian: "Explicit VR Little Endian",
    ExplicitVRBigEndian: "Explicit VR Big Endian",
    DeflatedExplicitVRLittleEndian: "Deflated Explicit VR Little Endian",
    RLELossless: "RLE Lossless",
}
NATIVE_SYNTAXES = {
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
}
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
TEXT_PRONE_MODALITIES = {"US", "OT", "XC", "ES", "GM", "SC", "DOC", "SM"}
#: Stable codes of the quarantine reasons (in ``deid_report.json`` and the CLI summary).
QUARANTINE_CODES = {
    "not-dicom": "not a DICOM Part 10 file",
    "unreadable": "unreadable or truncated DICOM",
    "truncated-pixels": "pixel data shorter than the image needs",
    "no-transfer-syntax": "no transfer syntax in the file meta information",
    "no-sop-uid": "no SOP Class UID or SOP Instance UID",
    "unsupported-syntax": "a transfer syntax the portal does not de-identify",
    "no-pixel-data": "not an image: no pixel data",
    "burned-in-annotation": "BurnedInAnnotation is YES",
    "secondary-capture": "secondary capture image",
    "text-prone-modality": "a modality whose pixels often carry text, not marked clean",
    "corrupt-length": "an element length runs past the end of its sequence or file",
    "nesting-too-deep": "sequences nested deeper than the portal reads",
    "syntax-mismatch": "the data set is not encoded as its transfer syntax says",
    "duplicate-sop-instance": "several files share one SOP Instance UID",
    "deid-failed": "de-identification failed unexpectedly",
}
#: Deeper sequences are quarantined; real images nest a handful of levels.
MAX_NESTING = 64
#: An ingest staging fewer exams than this share of the current staging is refused.
SHRINK_LIMIT = 0.5
#: How many files of each quarantine reason the summary names.
FIRST_FILES = 3


@dataclass(frozen=True)
class Task:
    exam_id: str
    index: int
    source: str  # absolute path of the input file
    subject: Subject


@dataclass(frozen=True)
class QuarantineGroup:
    """The files quarantined for one reason code: how many, why, the fix, the first few
    (as paths inside the export, for the organiser; never written into a release)."""

    code: str
    count: int
    reason: str  # the first file's reason, in words
    fix: str
    files: tuple[str, ...]

    def line(self) -> str:
        more = f" (+{self.count - len(self.files)} more)" if self.count > len(self.files) else ""
        return (
            f"{self.code}: {self.count} file(s): {self.reason}; e.g. "
            f"{', '.join(self.files)}{more}. Fix: {self.fix}"
        )


@dataclass(frozen=True)
class IngestSummary:
    staging: Path
    exams: int
    files: int
    quarantined: int
    excluded_exams: list[str]
    actions: dict[str, int]
    verifier_elements: int
    quarantine: tuple[QuarantineGroup, ...] = ()


class Quarantine(Exception):
    """A file that cannot be released as is: a stable code, the reason and how to fix it."""

    def __init__(self, code: str, reason: str, fix: str) -> None:
        super().__init__(reason)
        assert code in QUARANTINE_CODES, code
        self.code = code
        self.reason = reason
        self.fix = fix


@dataclass
class InputFile:
    """An input file split for speed: the parsed header, and the pixel element's raw bytes.

    The pixels are never changed, so they are copied through byte for byte;
    ``tail`` is empty when the whole file had to be parsed (deflated syntax,
    or elements after the pixels), and then ``ds`` holds the pixels.
    """

    ds: pydicom.Dataset
    header: bytes  # the file's bytes before the pixel element, as read
    tail_offset: int  # where the pixel element starts in the input file
    tail_length: int  # its length in bytes, header included; 0 when ds holds the pixels
    facts: Facts  # as read, before de-identification


def _pixel_element(tail: bytes, syntax: str) -> tuple[int, int] | None:
    """(header length, value length) of the pixel element at the start of ``tail``."""
    little = syntax != ExplicitVRBigEndian
    order = "<" if little else ">"
    if len(tail) < 8:
        return None
    group, element = struct.unpack(order + "HH", tail[:4])
    if group != 0x7FE0 or element not in (0x0008, 0x0009, 0x0010):
        return None
    if syntax == ImplicitVRLittleEndian:
        return 8, struct.unpack("<I", tail[4:8])[0]
    if tail[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN") and len(tail) >= 12:
        return 12, struct.unpack(order + "I", tail[8:12])[0]
    return None


# -- the structure of an input file ------------------------------------------------------
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_TAG_NUMBERS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
_CORRUPT_FIX = "copy the file again from the source, or re-export it; its bytes are damaged"


def structure_problem(path: Path) -> Quarantine | None:
    """Why a file's bytes cannot be parsed safely, or None.

    A parser meeting these reads garbage and reports something else ("no pixel
    data", a crash), so they are looked for first, with a walk that only follows
    lengths and never recurses: a length running past the end of its sequence,
    item or file; sequences nested deeper than ``MAX_NESTING``; a data set not
    encoded as its transfer syntax says (explicit VRs under an implicit syntax, or
    the reverse). Only the little-endian uncompressed syntaxes are walked.
    """
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size < 144:
            return None
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return _walk_structure(data)


def _corrupt(where: str, length: int, room: int, container: str) -> Quarantine:
    return Quarantine(
        "corrupt-length",
        f"corrupt length: {where} declares {length} bytes, but its {container} holds only "
        f"{max(room, 0)} more",
        _CORRUPT_FIX,
    )


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _walk_structure(data) -> Quarantine | None:
    size = len(data)
    if data[128:132] != b"DICM":
        return None
    pos, syntax = 132, ""
    while pos + 8 <= size:  # the file meta group, always explicit VR little endian
        group, element = struct.unpack_from("<HH", data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            if pos + 12 > size:
                return None
            length, head = struct.unpack_from("<I", data, pos + 8)[0], 12
        else:
            length, head = struct.unpack_from("<H", data, pos + 6)[0], 8
        if pos + head + length > size:
            return _corrupt(f"file meta element (0002,{element:04X})", length, size - pos, "file")
        if element == 0x0010:
            value = bytes(data[pos + head : pos + head + length])
            syntax = value.rstrip(b"\x00 ").decode("ascii", "replace")
        pos += head + length
    if syntax not in (ImplicitVRLittleEndian, ExplicitVRLittleEndian) or pos + 8 > size:
        return None
    implicit = syntax == ImplicitVRLittleEndian
    explicit_looking = data[pos + 4 : pos + 6] in _VRS
    if implicit == explicit_looking:
        said = SUPPORTED_SYNTAXES[syntax]
        found = "explicit VRs" if explicit_looking else "implicit VRs (no VR in its elements)"
        return Quarantine(
            "syntax-mismatch",
            f"transfer syntax mismatch: the file meta says {said}, but the data set is "
            f"encoded with {found}",
            "re-export the file, or set (0002,0010) TransferSyntaxUID to the encoding its "
            "data set uses",
        )
    # (end, is a sequence) of each open sequence and item; end None when delimited
    open_: list[tuple[int | None, bool]] = []
    depth = 0
    while pos < size:
        while open_ and open_[-1][0] is not None and pos >= open_[-1][0]:
            if open_.pop()[1]:
                depth -= 1
        limit = next((end for end, _ in reversed(open_) if end is not None), size)
        container = "file" if limit == size else "sequence"
        if pos + 8 > size:
            return None  # trailing bytes: the parser reports the truncation
        group, element = struct.unpack_from("<HH", data, pos)
        tag = (group << 16) | element
        if tag in (_ITEM, _ITEM_END, _SEQUENCE_END):
            length = struct.unpack_from("<I", data, pos + 4)[0]
            pos += 8
            if tag == _ITEM:
                if not open_ or not open_[-1][1]:
                    return None  # an item outside a sequence: the parser says so
                if length != _UNDEFINED and pos + length > limit:
                    return _corrupt("an item", length, limit - pos, container)
                open_.append((None if length == _UNDEFINED else pos + length, False))
            else:
                while open_ and open_[-1][0] is None:  # close the delimited container
                    closed = open_.pop()
                    if closed[1]:
                        depth -= 1
                    if closed[1] == (tag == _SEQUENCE_END):
                        break
            continue
        if implicit:
            vr = _implicit_vr(tag)
            length, head = struct.unpack_from("<I", data, pos + 4)[0], 8
        else:
            vr = bytes(data[pos + 4 : pos + 6])
            if vr in _LONG_VRS:
                if pos + 12 > size:
                    return None
                length, head = struct.unpack_from("<I", data, pos + 8)[0], 12
            else:
                length, head = struct.unpack_from("<H", data, pos + 6)[0], 8
        where = f"element {_tag_text(tag)}" + (f" ({vr.decode('ascii', 'replace')})" if vr else "")
        start = pos + head
        if tag in _PIXEL_TAG_NUMBERS and not open_:
            return None  # the pixels: their own checks follow
        if vr == b"SQ" or length == _UNDEFINED:
            depth += 1
            if depth > MAX_NESTING:
                return Quarantine(
                    "nesting-too-deep",
                    f"sequences nested more than {MAX_NESTING} levels deep (at {_tag_text(tag)})",
                    "re-export the file from the PACS; no image needs such nesting",
                )
            if length != _UNDEFINED and start + length > limit:
                return _corrupt(f"sequence {_tag_text(tag)}", length, limit - start, container)
            open_.append((None if length == _UNDEFINED else start + length, True))
            pos = start
            continue
        if start + length > limit:
            return _corrupt(where, length, limit - start, container)
        pos = start + length
    return None


def _implicit_vr(tag: int) -> bytes:
    if (tag >> 16) & 1:
        return b""
    try:
        return dictionary_VR(tag).split(" ")[0].encode()
    except KeyError:
        return b""


def read_input(path: Path) -> InputFile:
    """Parse one input file, or raise ``Quarantine`` saying why it cannot be used."""
    with open(path, "rb") as handle:
        head = handle.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            raise Quarantine(
                "not-dicom",
                "not a DICOM Part 10 file (no 'DICM' preamble)",
                "re-export it from the PACS as a DICOM file, or remove it from the export",
            )
        problem = structure_problem(path)
        if problem is not None:
            raise problem
        handle.seek(0)
        try:
            ds = pydicom.dcmread(handle, stop_before_pixels=True)
            offset = handle.tell()
            tail = handle.read(16)  # the pixel element's header is enough
            tail_length = handle.seek(0, os.SEEK_END) - offset
            handle.seek(0)
            header = handle.read(offset)
        except (InvalidDicomError, EOFError, ValueError, OSError, KeyError, struct.error) as error:
            raise Quarantine(
                "unreadable",
                f"unreadable or truncated DICOM ({type(error).__name__})",
                "copy the file again from the source; it is incomplete or damaged",
            ) from None
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if not syntax:
        raise Quarantine(
            "no-transfer-syntax",
            "no transfer syntax in the file meta information",
            "re-export it from the PACS as a complete DICOM Part 10 file",
        )
    if not ds.get("SOPClassUID") or not ds.get("SOPInstanceUID"):
        raise Quarantine(
            "no-sop-uid",
            "no SOP Class UID or SOP Instance UID: the object cannot be identified",
            "re-export it from the PACS; every DICOM object needs both",
        )
    if syntax not in SUPPORTED_SYNTAXES:
        raise Quarantine(
            "unsupported-syntax",
            f"unsupported transfer syntax {syntax.name} ({syntax})",
            "re-export uncompressed (Explicit VR Little Endian) or RLE Lossless",
        )
    if not tail:
        raise Quarantine(
            "no-pixel-data",
            f"no pixel data ({pydicom.uid.UID(str(ds.SOPClassUID)).name})",
            "only images are released; remove non-image objects from the export, or "
            "re-export the image with its pixels",
        )
    element = None if syntax == DeflatedExplicitVRLittleEndian else _pixel_element(tail, syntax)
    if element is None or element[1] == 0xFFFFFFFF or sum(element) != tail_length:
        if element is not None and element[1] != 0xFFFFFFFF and sum(element) > tail_length:
            raise Quarantine(
                "truncated-pixels",
                f"pixel data truncated ({tail_length - element[0]} of {element[1]} bytes)",
                "copy the file again from the source; it is incomplete",
            )
        try:  # encapsulated, deflated, or elements after the pixels: parse it all
            ds = pydicom.dcmread(path)
            ds.get("PixelData")
        except Exception as error:
            raise Quarantine(
                "unreadable",
                f"unreadable or truncated DICOM ({type(error).__name__})",
                "copy the file again from the source; it is incomplete or damaged",
            ) from None
        tail_length = 0
    facts = _facts(ds, syntax, tail_length - element[0] if tail_length and element else None)
    check_facts(facts)
    return InputFile(ds, header, offset, tail_length, facts)


def _facts(ds: pydicom.Dataset, syntax: str, pixel_bytes: int | None) -> Facts:
    """What ``check_facts`` needs, from a dataset pydicom read."""
    if pixel_bytes is None and "PixelData" in ds and syntax in NATIVE_SYNTAXES:
        pixel_bytes = len(ds.PixelData)
    return Facts(
        syntax=str(syntax),
        sop_class=str(ds.get("SOPClassUID", "")),
        sop_instance=str(ds.get("SOPInstanceUID", "")),
        modality=str(ds.get("Modality", "")),
        burned=str(ds.get("BurnedInAnnotation", "")),
        expected_pixel_bytes=_expected_pixel_bytes(ds),
        pixel_bytes=pixel_bytes,
    )


def check_facts(facts: Facts) -> None:
    """Quarantine an image whose pixels are cut short or may carry burned-in text."""
    expected, pixel_bytes = facts.expected_pixel_bytes, facts.pixel_bytes
    if facts.syntax in NATIVE_SYNTAXES and pixel_bytes is not None and expected > pixel_bytes:
        raise Quarantine(
            "truncated-pixels",
            f"pixel data truncated ({pixel_bytes} of {expected} bytes)",
            "copy the file again from the source; it is incomplete",
        )
    sop_class = facts.sop_class
    burned = facts.burned.upper()
    if burned == "YES":
        raise Quarantine(
            "burned-in-annotation",
            "BurnedInAnnotation is YES: the pixels may show names or dates",
            "clean the pixels (blank the text) and set BurnedInAnnotation to NO, or remove it",
        )
    if sop_class.startswith(SECONDARY_CAPTURE_PREFIX):
        raise Quarantine(
            "secondary-capture",
            "secondary capture image: screenshots often carry burned-in text",
            "replace it with the original acquisition, or clean its pixels and mark it",
        )
    modality = facts.modality.upper()
    if modality in TEXT_PRONE_MODALITIES and burned != "NO":
        raise Quarantine(
            "text-prone-modality",
            f"{modality} image without BurnedInAnnotation=NO: its pixels may carry text",
            "check the pixels and set BurnedInAnnotation to NO when they carry no text",
        )


def _expected_pixel_bytes(ds: pydicom.Dataset) -> int:
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1))
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        bits = int(ds.BitsAllocated)
    except (AttributeError, TypeError, ValueError):
        return 0
    return pixel_bytes_of(rows, cols, samples, frames, bits)


# -- workers ------------------------------------------------------------------------------
_WORKER: dict[str, object] = {}


def _init_worker(key: bytes, options: DeidOptions, work: str) -> None:
    deid = Deidentifier(key, options)
    _WORKER.update(deid=deid, bytes=ByteDeidentifier(deid), work=work)


def _process(task: Task) -> dict:
    """De-identify one file into the work folder; return its result record.

    Before anything is changed, the verifier's own code catalogues the input's
    identifying values and dates (it shares no code with the de-identifier).
    """
    work = Path(str(_WORKER["work"]))
    deid: Deidentifier = _WORKER["deid"]  # type: ignore[assignment]
    bytes_deid: ByteDeidentifier = _WORKER["bytes"]  # type: ignore[assignment]
    source = Path(task.source)
    stat = source.stat()
    record: dict = {
        "exam_id": task.exam_id,
        "index": task.index,
        "input_bytes": stat.st_size,
        "input_mtime_ns": stat.st_mtime_ns,
        "patient": task.subject.pseudonym,
    }
    catalogue = IdentifyingValues()
    catalogue.add_file_name(source.name)
    try:
        try:  # the byte path first: the common encoding, read with certainty
            done = bytes_deid.file(source, task.subject)
        except (Fallback, RecursionError):  # the pydicom path says why it cannot be used
            done = None
        if done is None:
            done = _deidentify_dataset(deid, source, task.subject)
        else:
            check_facts(done.facts)
        record["input_dates"] = catalogue.add_file(source, done.header)
        record["sop_instance_uid_hash"] = hashlib.sha256(
            done.facts.sop_instance.encode()
        ).hexdigest()
        out = f"dicom/{task.exam_id}/{task.index + 1:04d}.dcm"
        _write_output(work / "files" / out, done, source)
        record.update(status="ok", output=out, actions=dict(done.counts))
    except Quarantine as q:
        record.update(status="quarantined", code=q.code, reason=q.reason, fix=q.fix)
        _catalogue_quietly(source, catalogue)
    except Exception as error:  # never crash the run, never lose the file
        q = _structure_problem_quietly(source) or Quarantine(
            "deid-failed",
            f"de-identification failed ({type(error).__name__})",
            "report this file to the portal maintainers; it was not released",
        )
        record.update(status="quarantined", code=q.code, reason=q.reason, fix=q.fix)
    record["catalogue"] = catalogue.state()
    _save_record(work, task, record)
    return record


def _structure_problem_quietly(source: Path) -> Quarantine | None:
    try:
        return structure_problem(source)
    except Exception:
        return None


def _deidentify_dataset(deid: Deidentifier, source: Path, subject: Subject) -> Deidentified:
    """The pydicom path, for every file the byte path leaves aside."""
    found = read_input(source)
    counts = deid.dataset(found.ds, subject)
    encoded = encode_file(found.ds)  # the common encoding, fast; None: any other
    if encoded is None:
        found.ds.preamble = None  # never the input's preamble: 128 zero bytes
        buffer = io.BytesIO()
        found.ds.save_as(buffer, enforce_file_format=True)
        encoded = buffer.getvalue()
    return Deidentified(
        encoded=encoded,
        header=found.header if found.tail_length else None,  # None: whole file parsed
        tail_offset=found.tail_offset,
        tail_length=found.tail_length,
        counts=counts,
        facts=found.facts,
    )


def _write_output(target: Path, done: Deidentified, source: Path) -> None:
    """The de-identified header, then the input's pixel element copied byte for byte
    (in the kernel where it can). No rename needed: a resumed run trusts an output
    only when its record, written after it, says so."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        out.write(done.encoded)
        if done.tail_length:
            out.flush()
            with open(source, "rb") as src:
                _copy_range(src, out, done.tail_offset, done.tail_length)


def _copy_range(src, out, offset: int, length: int) -> None:
    done = 0
    try:
        while done < length:
            sent = os.copy_file_range(
                src.fileno(), out.fileno(), length - done, offset_src=offset + done
            )
            if sent == 0:
                break
            done += sent
    except OSError:
        pass  # another filesystem or no kernel support: copy the rest in user space
    if done < length:
        src.seek(offset + done)
        out.seek(0, os.SEEK_END)
        remaining = length - done
        while remaining:
            chunk = src.read(min(remaining, 1 << 20))
            if not chunk:
                raise OSError("input file shrank while being copied")
            out.write(chunk)
            remaining -= len(chunk)


def _catalogue_quietly(source: Path, catalogue: IdentifyingValues) -> None:
    """Quarantined files still teach the verifier what to look for elsewhere."""
    try:
        catalogue.add_file(source)
    except Exception:
        return


def _save_record(work: Path, task: Task, record: dict) -> None:
    """Append the record to this process's journal; a torn last line is ignored on resume."""
    journal = work / "done" / f"{os.getpid()}.jsonl"
    journal.parent.mkdir(parents=True, exist_ok=True)
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def _journal_records(work: Path) -> Iterator[dict]:
    """Every record the journals of an interrupted run hold, in the order written."""
    for journal in sorted((work / "done").glob("*.jsonl")):
        with open(journal, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # the line being written when the run stopped


# -- orchestration ------------------------------------------------------------------------
RECORD_FORMAT = "4"  # bump when the work records change shape: old ones are then redone


def _fingerprint(key: bytes, options: DeidOptions) -> str:
    payload = json.dumps(options.model_dump(mode="json"), sort_keys=True)
    payload += __version__ + RECORD_FORMAT
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()[:16]


def centre_codes(names: Iterable[str], key: bytes, prefix: str) -> dict[str, str]:
    """Centre name -> code, numbered in keyed-hash order so codes reveal nothing."""
    order = sorted(
        sorted(set(names)), key=lambda n: hmac.new(key, n.encode(), hashlib.sha256).hexdigest()
    )
    return {name: f"{prefix}-C{i:02d}" for i, name in enumerate(order, start=1)}


def _tasks(store: WorkStore, deid: Deidentifier, codes: dict[str, str], *, todo: bool = False):
    """The tasks of every file (or of those not done yet), exams by ID, files by index:
    made one at a time from the store, never held as a list."""
    for exam, index, source, patient, centre in store.files(todo=todo):
        subject = Subject(
            pseudonym=patient, shift_days=deid.shift_for(patient), centre_code=codes.get(centre)
        )
        yield Task(exam, index, source, subject)


def _prepare_work(work: Path, fingerprint: str) -> bool:
    """Keep the work folder of an interrupted run with the same key, options and portal
    (True), or start a new one (False)."""
    stamp = work / "fingerprint"
    if stamp.exists() and stamp.read_text() == fingerprint:
        return True
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stamp.write_text(fingerprint)
    return False


def _resume(work: Path, store: WorkStore, catalogue: StoredValues) -> int:
    """Take the journaled records of a previous, interrupted run whose input is unchanged
    and whose output is still there; return how many files are done."""
    for record in _journal_records(work):
        exam, index = record.get("exam_id"), record.get("index")
        source = store.source_of(exam, index)
        if source is None:
            continue
        stat = Path(source).stat()
        output = record.get("output")
        if (record.get("input_bytes"), record.get("input_mtime_ns")) != (
            stat.st_size,
            stat.st_mtime_ns,
        ) or (record["status"] == "ok" and not (work / "files" / output).exists()):
            store.forget(exam, index)  # a later line about this file says it must be redone
            continue
        _take(record, store, catalogue)
    return sum(store.status_counts().values())


def _write_tables(staging: Path, store: WorkStore, codes: dict[str, str]) -> None:
    """labels.csv, splits.csv and clinical.csv of the kept exams, by exam ID, as the export
    wrote them (centres as codes), streamed from the store."""
    label_columns, clinical_columns = store.label_columns(), store.clinical_columns()
    centre = clinical_columns.index("centre")
    with (
        open(staging / "labels.csv", "w", newline="", encoding="utf-8") as labels_file,
        open(staging / "splits.csv", "w", newline="", encoding="utf-8") as splits_file,
        open(staging / "clinical.csv", "w", newline="", encoding="utf-8") as clinical_file,
    ):
        labels = csv.writer(labels_file, lineterminator="\n")
        splits = csv.writer(splits_file, lineterminator="\n")
        clinical = csv.writer(clinical_file, lineterminator="\n")
        labels.writerow(label_columns)
        splits.writerow(["exam_id", "split"])
        clinical.writerow(clinical_columns)
        for exam, split, label_row, clinical_row in store.kept_rows():
            labels.writerow(label_row)
            splits.writerow([exam, split])
            clinical_row[centre] = codes[clinical_row[centre]]
            clinical.writerow(clinical_row)


def _write_streamed(path: Path, head: str, pieces: Iterable[str], tail: str) -> None:
    """Write ``head``, the pieces and ``tail`` to ``path`` (through a temporary file and a
    rename, flushed to disk first: as ``atomic.write_text`` does)."""
    tmp = path.parent / f".{path.name}{atomic.TMP_MARKER}{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(head)
        for piece in pieces:
            handle.write(piece)
        handle.write(tail)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _write_sources(path: Path, store: WorkStore) -> None:
    """private/sources.json: output file -> input file and patient, as a JSON list."""
    items = (
        {"output": record["output"], "input": source, "patient": record["patient"]}
        for _, _, source, record in store.records("ok")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_streamed(path, "", json_list_lines(items, 1, 0), "")


def ingest(
    challenge: str,
    export_dir: Path,
    out_dir: Path,
    *,
    options: DeidOptions,
    key: bytes,
    schema: ChallengeSchema,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    allow_shrink: bool = False,
) -> IngestSummary:
    """Validate, de-identify, verify and stage ``export_dir`` into ``out_dir/staging``.

    Refuses (``InputError``) when no exam can be staged, and (``OutputExistsError``)
    when fewer than ``SHRINK_LIMIT`` of the current staging's exams would remain,
    unless ``allow_shrink``; the staging is then left byte for byte as it was.

    Memory does not grow with the export: its tables and file lists are checked a row
    and a folder at a time into a temporary SQLite file (``contract.check_export``), then
    wait, with the per-file records, in the work folder's (``records.WorkStore``), the
    verifier's catalogue in another (``StoredValues``).
    """
    cores = max(1, workers or os.cpu_count() or 1)
    if cores > 1 and _folders_at_least(Path(export_dir) / "exams", 4):
        # the pools' fork server imports the portal while this process checks the export
        start_server(POOL_PRELOAD)
    with tempfile.TemporaryDirectory(prefix="portal-export-") as checked:
        export = check_export(export_dir, schema, Path(checked) / "export.sqlite")
        out_dir = Path(out_dir)
        work = out_dir / ".ingest-work"
        private = out_dir / "private"
        deid = Deidentifier(key, options)
        resuming = _prepare_work(work, _fingerprint(key, options))
        store = WorkStore(work / "ingest.sqlite")
        try:
            store.load_export(export)  # streamed, store to store
        finally:
            export.close()
        root = export.root
    codes = centre_codes(store.centres(), key, options.pseudonym_prefix)
    total = store.file_count()
    if on_total:
        on_total(total)
    # the verifier's catalogue of the input's identifying values lives on disk, rebuilt
    # from the finished files' records on a resume: memory does not grow with the export
    (work / "catalogue.sqlite").unlink(missing_ok=True)
    catalogue = StoredValues(work / "catalogue.sqlite", writable=True)
    resumed = _resume(work, store, catalogue) if resuming else 0
    if progress and resumed:
        progress(resumed)
    _deidentify_all(
        _tasks(store, deid, codes, todo=True),
        total - resumed,
        store,
        (key, options, str(work)),
        cores,
        progress,
        catalogue,
    )

    _quarantine_duplicates(store)
    counts = store.status_counts()
    kept = store.kept_count()
    excluded = store.excluded_exams()
    groups = quarantine_groups(root, store)
    staging = out_dir / "staging"
    _refuse_shrinking(staging, kept, total, groups, allow_shrink)

    private.mkdir(parents=True, exist_ok=True)
    _copy_quarantine(private / "quarantine", store)
    _write_sources(private / "sources.json", store)

    with atomic.atomic_dir(staging, overwrite=True) as tmp:
        _place_outputs(work / "files" / "dicom", tmp / "dicom", store, counts.get("ok", 0))
        try:
            _write_tables(tmp, store, codes)
            deid_report, actions = _report(challenge, root, options, key, store, excluded)
            report_path = tmp / "deid_report.json"
            write_report(report_path, deid_report, _outcomes(store))
            report = _verify_staging(tmp, catalogue, total, codes, options, private, workers=cores)
            deid_report["verifier"] = {
                "passed": True,
                # published in every release: the words stay as first released
                "independent": "portal.verify shares no code with portal.deid",
                "files": report.files,
                "elements": report.elements,
            }
            write_report(report_path, deid_report, _outcomes(store))
        except BaseException:
            # refused or interrupted: the outputs go back to the work folder, for a resume
            with contextlib.suppress(OSError):
                os.rename(tmp / "dicom", work / "files" / "dicom")
            raise
    catalogue.close()
    store.close()
    shutil.rmtree(work, ignore_errors=True)
    return IngestSummary(
        staging=staging,
        exams=kept,
        files=counts.get("ok", 0),
        quarantined=counts.get("quarantined", 0),
        excluded_exams=excluded,
        actions=dict(sorted(actions.items())),
        verifier_elements=report.elements,
        quarantine=groups,
    )


def _place_outputs(files: Path, dicom: Path, store: WorkStore, staged: int) -> None:
    """Move the de-identified files into the staging's ``dicom/`` with one rename (no copy,
    no link, no folder made or removed per exam), then drop what is not a staged output:
    the files of quarantined inputs (duplicates), and outputs of an interrupted run whose
    input left the export."""
    os.rename(files, dicom)
    kept = 0
    for folder in os.scandir(dicom):
        if not folder.is_dir(follow_symlinks=False):
            os.unlink(folder.path)
            continue
        held = 0
        for entry in os.scandir(folder.path):
            if store.is_staged(f"dicom/{folder.name}/{entry.name}"):
                held += 1
            else:
                os.unlink(entry.path)
        if not held:
            os.rmdir(folder.path)
        kept += held
    if kept != staged:
        raise PortalError(
            f"{staged - kept} de-identified file(s) went missing from {files} while the "
            "ingest ran; nothing was staged.",
            hint="re-run `portal ingest`; the missing files are de-identified again.",
        )


def quarantine_groups(root: Path, store: WorkStore) -> tuple[QuarantineGroup, ...]:
    """The quarantined files by reason code, most frequent first, each with its first files
    named by their path inside the export."""
    root_text = os.path.realpath(root)
    found: dict[str, list] = {}  # code -> [count, first record, first files shown]
    for exam, _, source_text, record in store.records("quarantined"):
        source = Path(source_text)
        shown = (
            source.relative_to(root_text).as_posix()
            if source.is_relative_to(root_text)
            else f"exams/{exam}/{source.name}"
        )
        entry = found.setdefault(record.get("code", "deid-failed"), [0, record, []])
        entry[0] += 1
        if len(entry[2]) < FIRST_FILES:
            entry[2].append(shown)
    return tuple(
        QuarantineGroup(
            code=code,
            count=count,
            reason=first["reason"],
            fix=first["fix"],
            files=tuple(shown),
        )
        for code, (count, first, shown) in sorted(
            found.items(), key=lambda item: (-item[1][0], item[0])
        )
    )


def _staged_exams(staging: Path) -> int:
    """How many exams the current staging holds (0 when there is none)."""
    try:
        report = json.loads((staging / "deid_report.json").read_text(encoding="utf-8"))
        return int(report["counts"]["exams_staged"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        with open(staging / "labels.csv", newline="", encoding="utf-8") as handle:
            return sum(1 for _ in csv.DictReader(handle))
    except (OSError, ValueError, csv.Error):
        return 0


def _refuse_shrinking(
    staging: Path, kept: int, files: int, groups: tuple[QuarantineGroup, ...], allow: bool
) -> None:
    """Never replace a staging with an empty one, nor, unless ``allow``, with one holding
    fewer than ``SHRINK_LIMIT`` of its exams: an export gone bad looks just like that."""
    reasons = [group.line() for group in groups]
    if kept == 0:
        raise InputError(
            f"no exam can be staged: all {files} file(s) of the export were quarantined; "
            "the current staging is left as it is.",
            problems=reasons,
            hint="fix or replace the files named above, then re-run `portal ingest`.",
        )
    current = _staged_exams(staging)
    if not allow and current and kept < current * SHRINK_LIMIT:
        raise OutputExistsError(
            f"{staging}: this ingest would stage {kept} exam(s) where the current staging "
            f"holds {current} (fewer than {SHRINK_LIMIT:.0%}); the staging is left as it is.",
            problems=reasons,
            hint="fix the files named above and re-run; if the export really shrank, "
            "re-run `portal ingest` with `--allow-shrink`.",
        )


def _deidentify_all(
    todo: Iterator[Task],
    count: int,
    store: WorkStore,
    args: tuple,
    cores: int,
    progress: Callable[[int], None] | None,
    catalogue: StoredValues,
) -> None:
    """Run ``_process`` over the ``count`` files still to do, on up to ``cores`` processes;
    each record joins the store as it comes back."""

    def take(record: dict) -> None:
        _take(record, store, catalogue)
        if progress:
            progress(1)

    workers = min(cores, count or 1)
    if workers == 1 or count < 4:
        _init_worker(*args)
        for task in todo:
            take(_process(task))
        return
    # the fork server (started by ingest, or now) imports POOL_PRELOAD once
    with process_pool(
        workers,
        initializer=_init_worker,
        initargs=args,
        preload=POOL_PRELOAD,
    ) as pool:
        # Starting the fork server takes about half a second (it imports the portal), and
        # the first submission waits for it: a thread waits instead, while this process,
        # which has everything imported, de-identifies files itself.
        starter = threading.Thread(target=_start_workers, args=(pool, workers), daemon=True)
        starter.start()
        _init_worker(*args)
        while starter.is_alive():
            task = next(todo, None)
            if task is None:
                break
            take(_process(task))
        starter.join()
        try:
            for record in _in_order(pool, todo, chunk=2, window=8 * workers):
                take(record)
        except BrokenProcessPool:
            raise PortalError(
                "a worker process died while de-identifying (finished files are kept).",
                hint="re-run to resume; `--workers 1` shows which file brings it down.",
            ) from None


def _folders_at_least(folder: Path, count: int) -> bool:
    """Whether ``folder`` holds ``count`` entries or more (reads no more than that)."""
    try:
        with os.scandir(folder) as entries:
            return sum(1 for _ in itertools.islice(entries, count)) >= count
    except OSError:
        return False


def _process_batch(tasks: list[Task]) -> list[dict]:
    return [_process(task) for task in tasks]


def _in_order(pool: ProcessPoolExecutor, tasks: Iterator[Task], *, chunk: int, window: int):
    """Records of ``tasks`` in their order, computed by ``pool`` ``chunk`` tasks at a time
    with at most ``window`` chunks submitted: unlike ``pool.map``, which submits all at
    once, memory holds a window of tasks, not the export."""
    pending: deque = deque()
    while True:
        batch = list(itertools.islice(tasks, chunk))
        if batch:
            pending.append(pool.submit(_process_batch, batch))
        if pending and (len(pending) >= window or not batch):
            yield from pending.popleft().result()
        elif not batch:
            return


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Have ``pool`` start all its workers now (each submission starts one)."""
    for ready in [pool.submit(os.getpid) for _ in range(workers)]:
        ready.result()


def _verify_staging(
    folder: Path,
    identifying: StoredValues,
    files: int,
    codes: dict[str, str],
    options: DeidOptions,
    private: Path,
    *,
    workers: int,
):
    """Run the independent verifier over ``folder``; raise if it finds anything."""
    identifying.add_table_values(codes.keys(), "centre name")
    identifying.commit()  # the verify workers read what is committed
    report = verify_tree(
        folder,
        identifying,
        inputs=identifying.inputs(),  # the input dates wait on disk too
        allowed_private=options.private_allowlist,
        workers=workers if files >= 64 else 1,
    )
    findings_path = private / "verify-findings.json"
    if not report.passed:
        atomic.write_text(findings_path, json.dumps(report.to_dict(), indent=1))
        counts = ", ".join(f"{k}: {v}" for k, v in report.counts().items())
        raise VerificationError(
            f"the verifier found {len(report.findings)} identifying trace(s) in the "
            f"de-identified data ({counts}); nothing was staged.",
            hint=f"see {findings_path}; extend the profile or quarantine the files, then re-run.",
        )
    findings_path.unlink(missing_ok=True)
    return report


def _take(record: dict, store: WorkStore, catalogue: StoredValues) -> None:
    """One file's record: its catalogue of identifying values joins the one catalogue, the
    input's dates wait on disk for the interval check, the rest joins the store."""
    if "catalogue" in record:
        catalogue.merge(record.pop("catalogue"))
    dates = record.pop("input_dates", None)
    if dates is not None and record.get("output"):
        catalogue.add_input_dates(record["output"], record["patient"], dates)
    store.put(record)


def _quarantine_duplicates(store: WorkStore) -> None:
    """Files sharing one SOP Instance UID: which exam owns the image is unknown, so every
    copy is quarantined, naming the exams involved."""
    for sop in list(store.duplicate_sops()):
        copies = store.with_sop(sop)
        exams = ", ".join(sorted({r["exam_id"] for r in copies}))
        for record in copies:
            record.update(
                status="quarantined",
                code="duplicate-sop-instance",
                reason=f"duplicate SOP Instance UID: {len(copies)} files share it (exams {exams})",
                fix="keep one copy, in the exam it belongs to, and re-run",
            )
            record.pop("output", None)
            store.put(record)


def _copy_quarantine(folder: Path, store: WorkStore) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    for exam, _, source, _ in store.records("quarantined"):
        target = folder / exam / Path(source).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def _outcomes(store: WorkStore) -> Iterator[dict]:
    """Each file's outcome, as ``deid_report.json`` lists them, in task order."""
    for exam, index, _, record in store.records():
        outcome = {"exam_id": exam, "file_index": index, "status": record["status"]}
        if record["status"] == "ok":
            outcome["output"] = record["output"]
        else:
            outcome.update(code=record["code"], reason=record["reason"], fix=record["fix"])
        yield outcome


def _report(challenge, root, options, key, store, excluded) -> tuple[dict, Counter]:
    """The report (its ``files`` list is streamed when written) and the action counts."""
    actions: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    fixes: dict[str, str] = {}
    for _, _, _, record in store.records():
        actions.update(record.get("actions", {}))
        if record["status"] == "quarantined":
            quarantined[record["code"]] += 1
            fixes[record["code"]] = record["fix"]  # the last file's, as always
    counts = store.status_counts()
    exams = store.exam_count()
    report = {
        "challenge": challenge,
        "profile": {
            "standard": "DICOM PS3.15 Annex E",
            "table": f"dicom-anonymizer {PROFILE_DATABASE}",
            "methods": [{"code": c, "scheme": "DCM", "meaning": m} for c, m in options.codes()],
            "retained_patient_characteristics": options.retain_patient_characteristics,
            "private_allowlist": options.private_allowlist,
            "uids": "keyed HMAC-SHA256, root 2.25",
            "dates": "one whole-day shift per patient, 100 to 110 years back; times kept",
            "key_id": key_id(key),
            "key_source": key_source(challenge, root),
        },
        "portal_version": __version__,
        "pydicom_version": pydicom.__version__,
        "counts": {
            "exams_in_export": exams,
            "exams_staged": exams - len(excluded),
            "files": store.file_count(),
            "files_staged": counts.get("ok", 0),
            "files_quarantined": counts.get("quarantined", 0),
            "actions": dict(sorted(actions.items())),
        },
        "excluded_exams": excluded,
        "quarantine": {
            code: {
                "count": quarantined[code],
                "meaning": QUARANTINE_CODES[code],
                "fix": fixes[code],
            }
            for code in sorted(quarantined)
        },
        "files": [],  # streamed by write_report
        "verifier": {"passed": None},
    }
    return report, actions
