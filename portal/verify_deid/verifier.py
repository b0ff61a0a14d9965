"""The independent de-identification verifier: it trusts nothing the de-identifier did.

It shares no code path with :mod:`portal.deid` (``tests/test_boundaries.py`` checks
the imports). It first collects every identifying value of the *input* (person
names, IDs, dates, UIDs, addresses, phones, institution and station strings,
and the values inside private tags), then walks every element of every output
file at every depth, and every file and folder name, and reports:

- ``private-tag``: a private element that is not allow-listed;
- ``person-name``: a person name that is not a pseudonym;
- ``original-uid``: a UID of the input;
- ``unshifted-date``: a date of the input, in an element or inside any text;
- ``identifying-value``: a name, ID, address, phone, institution or station
  string of the input, anywhere (element values, private tags, file names);
- ``date-interval``: dates of one patient not all shifted by the same offset;
- ``identity-flag``: ``PatientIdentityRemoved`` missing or not ``YES``;
- ``unreadable``: an output file that cannot be read.

One finding is enough to refuse a release.
"""

from __future__ import annotations

import datetime as dt
import mmap
import os
import re
import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from portal.verify_deid.rawdicom import RawElement, UnsupportedEncoding, read_elements

FREE_TEXT_VRS = frozenset({"AE", "LO", "LT", "SH", "ST", "UC", "UT"})  # not coded (CS)
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR", "AS"})
IDENTIFYING_KEYWORDS = re.compile(
    r"(^PatientID$|IDs$|(?<!U)ID$|AccessionNumber|Address|Telephone|InstitutionName"
    r"|InstitutionalDepartmentName|StationName|DeviceSerialNumber|IssuerOf|BirthName"
    r"|ReferencedFileID|OrderNumber|MedicalRecordLocator|RegionOfResidence|MilitaryRank"
    r"|BranchOfService|PersonAddress|PersonTelephone|ResponsibleOrganization)"
)
SEPARATORS = re.compile(r"[^0-9a-z]+")
DATE_IN_TEXT = re.compile(
    r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)|(?<!\d)(\d{2})[/.\-](\d{2})[/.\-](\d{4})(?!\d)"
    r"|(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)"
)
DIGIT_RUN = re.compile(r"\d(?:[ .\-]?\d)*")  # digits, maybe grouped like a phone number
#: A value the input also holds in one of these is a device or protocol name, not an identity
#: (a test file may name its institution "GE MEDICAL SYSTEMS").
BENIGN_KEYWORDS = frozenset(
    {"Manufacturer", "ManufacturerModelName", "SoftwareVersions", "Modality", "BodyPartExamined"}
)
NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "IS", "DS", "AT", "UV", "SV"})
TEXT_CHUNK = 2000  # lines of a text file per verification job
MEMO_SIZE = 20_000  # searched values remembered per verifier process (a few MB)
MIN_TOKEN = 3
MIN_DIGITS = 7


@dataclass(frozen=True)
class Finding:
    """One thing that should not be in a release."""

    file: str
    tag_path: str
    kind: str
    evidence: str  # redacted: never the full identifying value

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class VerifyReport:
    """The verifier's verdict over a folder: passed only with no finding at all."""

    files: int = 0
    elements: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for finding in self.findings:
            out[finding.kind] += 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "files": self.files,
            "elements": self.elements,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }


def _fold(text: str) -> str:
    if text.isascii():  # nothing to decompose: the common case, kept fast
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _tokens(text: str) -> list[str]:
    return [t for t in SEPARATORS.split(_fold(text)) if t]


def redact(value: str, source: str) -> str:
    value = str(value)
    return f"{value[:2]}… ({len(value)} chars, like the input's {source})"


def _date_key(match: re.Match[str]) -> str | None:
    g = match.groups()
    if g[0]:
        y, m, d = g[0], g[1], g[2]
    elif g[3]:
        d, m, y = g[3], g[4], g[5]
    else:
        y, m, d = g[6], g[7], g[8]
    try:
        dt.date(int(y), int(m), int(d))
    except ValueError:
        return None
    return f"{y}{m}{d}"


def _pydicom_elements(path: Path) -> list[RawElement]:
    """Fallback for encodings the byte reader leaves aside (big endian, deflated)."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    out: list[RawElement] = []

    def walk(dataset: Dataset, prefix: str) -> None:
        for elem in dataset:
            path_ = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
            creator = ""
            if elem.tag.is_private and not elem.tag.is_private_creator:
                owner = dataset.get((elem.tag.group << 16) | ((elem.tag.element >> 8) & 0xFF))
                creator = str(owner.value) if owner is not None else ""
            value = elem.value
            if elem.VR == "SQ" or value is None:
                values: tuple[str, ...] = ()
            elif isinstance(value, bytes | bytearray):
                values = (value.decode("latin-1"),) if len(value) <= 65536 else ()
            elif isinstance(value, list | tuple | pydicom.multival.MultiValue):
                values = tuple(str(v) for v in value)
            else:
                values = (str(value),)
            out.append(RawElement(path_, int(elem.tag), elem.VR, values, creator))
            if elem.VR == "SQ" and value:
                for i, item in enumerate(value):
                    walk(item, f"{path_}[{i}]/")

    walk(ds.file_meta, "meta/")
    walk(ds, "")
    return out


def elements_of(path: Path, data: bytes | mmap.mmap | None = None) -> list[RawElement]:
    """Every element of a file, read by the verifier's own byte-level reader."""
    try:
        return list(read_elements(path, data))
    except UnsupportedEncoding:
        return _pydicom_elements(path)


class IdentifyingValues:
    """Everything identifying that the input contained, indexed for fast searching."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # single words: value -> source keyword
        self.phrases: dict[tuple[str, ...], str] = {}  # multi-word values
        self.digits: dict[str, str] = {}  # long digit strings (IDs, phones)
        self.dates: dict[str, str] = {}  # YYYYMMDD
        self.uids: dict[str, str] = {}
        self.exact: dict[str, str] = {}  # whole values, however short (IDs like "12345")
        self.benign: set[str] = set()  # values the input also gives as device or modality

    def _add_text(self, text: str, source: str, *, words: bool = False) -> None:
        """Index ``text``: whole value, phrase, long digit runs, dates, and with ``words``
        (person names) each word alone, since a surname can leak on its own."""
        tokens = _tokens(text)
        if not tokens:
            return
        whole = " ".join(tokens)
        if len(whole.replace(" ", "")) > MIN_TOKEN:
            self.exact.setdefault(whole, source)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= MIN_DIGITS and len(digits) >= len(text.replace(" ", "")) - 2:
            self.digits.setdefault(digits, source)
            return
        if (
            len(tokens) > 1
            and len(whole.replace(" ", "")) > MIN_TOKEN
            and max(map(len, tokens)) >= MIN_TOKEN
        ):
            self.phrases.setdefault(tuple(tokens), source)
        for token in tokens:
            if words and len(token) >= MIN_TOKEN and not token.isdigit():
                self.tokens.setdefault(token, source)
            elif token.isdigit() and len(token) >= MIN_DIGITS:
                self.digits.setdefault(token, source)
        for match in DATE_IN_TEXT.finditer(text):
            key = _date_key(match)
            if key:
                self.dates.setdefault(key, source)

    def add_elements(self, elements: Iterable[RawElement]) -> None:
        for elem in elements:
            keyword = elem.keyword or "private"
            vr = elem.vr
            if elem.is_private and not elem.is_private_creator:
                for value in elem.values:
                    if vr in TEXT_VRS or vr in ("DA", "DT", "UN", "OB"):
                        self._add_private(value)
                continue
            for value in elem.values:
                value = value.strip().strip("\x00")
                if not value:
                    continue
                if vr == "UI":
                    if not value.startswith("1.2.840.10008."):
                        self.uids.setdefault(value, keyword)
                elif vr in ("DA", "DT"):
                    if len(value) >= 8 and value[:8].isdigit():
                        self.dates.setdefault(value[:8], keyword)
                elif keyword in BENIGN_KEYWORDS:
                    self.benign.add(" ".join(_tokens(value)))
                elif vr == "PN":
                    self._add_text(value.replace("^", " ").replace("=", " "), keyword, words=True)
                elif vr in FREE_TEXT_VRS and IDENTIFYING_KEYWORDS.search(keyword):
                    self._add_text(value, keyword)

    def add_file(self, path: Path, header: bytes | None = None) -> dict[str, str]:
        """Catalogue one input file (name and elements); return its dates by path.

        ``header`` may give the file's bytes up to its pixels, already read."""
        path = Path(path)
        self.add_file_name(path.name)
        elements = elements_of(path, header)
        self.add_elements(elements)
        return dates_by_path(elements)

    def _add_private(self, value: str) -> None:
        """Private values are noisy (flags, versions, counts): keep what can identify,
        dates, long digit runs (IDs) and name-like values of two or more words."""
        words = [t for t in _tokens(value) if t.isalpha() and len(t) >= MIN_TOKEN]
        if len(words) >= 2 and len(words) >= len(_tokens(value)) - 1:
            self._add_text(value, "private tag")
            return
        for run in DIGIT_RUN.findall(value):
            digits = re.sub(r"\D", "", run)
            if len(digits) >= MIN_DIGITS:
                self.digits.setdefault(digits, "private tag")
        for match in DATE_IN_TEXT.finditer(value):
            key = _date_key(match)
            if key:
                self.dates.setdefault(key, "private tag")

    _FIELDS = ("tokens", "phrases", "digits", "dates", "uids", "exact")

    def state(self) -> dict:
        """A JSON-friendly copy, so workers can catalogue their files and the parent merge."""
        out = {name: getattr(self, name) for name in self._FIELDS}
        out["phrases"] = {" ".join(k): v for k, v in self.phrases.items()}
        out["benign"] = sorted(self.benign)
        return out

    def merge(self, state: dict) -> None:
        for name in self._FIELDS:
            target = getattr(self, name)
            for key, source in state[name].items():
                key = tuple(key.split(" ")) if name == "phrases" else key
                target.setdefault(key, source)
        self.benign.update(state["benign"])

    def add_file_name(self, name: str) -> None:
        """File names of hospital exports carry IDs and dates: they count as input values."""
        stem = Path(name).stem
        for token in _tokens(stem):
            if token.isdigit() and len(token) >= MIN_DIGITS:
                self.digits.setdefault(token, "input file name")

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> IdentifyingValues:
        values = cls()
        for path in paths:
            try:
                values.add_file(path)
            except Exception:  # an unreadable input brings only its name; ingest quarantined it
                values.add_file_name(Path(path).name)
        return values

    def add_table_values(self, values: Iterable[str], source: str) -> None:
        for value in values:
            if value:
                self._add_text(value, source)

    def _sizes(self) -> tuple[set[int], set[int]]:
        """Lengths of the phrases and digit strings, recomputed only when they change."""
        key = (len(self.phrases), len(self.digits))
        if getattr(self, "_sizes_key", None) != key:
            self._sizes_cache = ({len(p) for p in self.phrases}, {len(d) for d in self.digits})
            self._sizes_key = key
        return self._sizes_cache

    def search(self, text: str, *, words: bool = True) -> Iterator[tuple[str, str, str]]:
        """(kind, evidence, source) of every identifying value found inside ``text``.

        ``words=False`` skips single name words: for the portal's own generated text
        and for coded values (CS), where a word like "text" or "mode" is no leak.
        """
        tokens = _tokens(text)
        whole = " ".join(tokens)
        if whole in self.benign:
            return
        for token in tokens if words else ():
            source = self.tokens.get(token)
            if source and token not in self.benign:
                yield "identifying-value", token, source
        phrase_sizes, digit_sizes = self._sizes()
        if self.phrases and len(tokens) > 1:
            for size in phrase_sizes:
                for i in range(len(tokens) - size + 1):
                    source = self.phrases.get(tuple(tokens[i : i + size]))
                    if source:
                        yield "identifying-value", " ".join(tokens[i : i + size]), source
        if whole in self.exact and whole not in self.tokens:
            yield "identifying-value", whole, self.exact[whole]
        if self.digits:
            for run in DIGIT_RUN.findall(text):
                digits = re.sub(r"\D", "", run)
                for size in digit_sizes:
                    for i in range(len(digits) - size + 1):
                        source = self.digits.get(digits[i : i + size])
                        if source:
                            yield "identifying-value", digits[i : i + size], source
        for match in DATE_IN_TEXT.finditer(text):
            key = _date_key(match)
            if key and key in self.dates:
                yield "unshifted-date", match.group(0), self.dates[key]


class Verifier:
    """Walks output files and reports findings against the input's identifying values."""

    def __init__(
        self,
        identifying: IdentifyingValues,
        *,
        pseudonym_pattern: str = r"^[A-Z][A-Z0-9]{1,7}-[A-Z0-9]+$",
        allowed_private: Iterable[str] = (),
    ) -> None:
        self.identifying = identifying
        self.pseudonym = re.compile(pseudonym_pattern)
        self.allowed_private = {a.upper() for a in allowed_private}
        # what a searched value holds: files repeat most values (codes, vocabulary), and
        # the identifying values do not change while a verifier runs
        self._found: dict[tuple[str, bool], list[tuple[str, str, str]]] = {}

    def check_name(self, relative: str, report: VerifyReport) -> None:
        for part in Path(relative).parts:
            for kind, evidence, source in self.identifying.search(part):
                report.findings.append(
                    Finding(relative, "file name", kind, redact(evidence, source))
                )

    def check_elements(
        self, relative: str, elements: list[RawElement], report: VerifyReport
    ) -> None:
        report.files += 1
        flag = next((e for e in elements if e.tag == 0x00120062), None)
        if flag is None or [v.upper() for v in flag.values] != ["YES"]:
            report.findings.append(
                Finding(relative, "(0012,0062)", "identity-flag", "PatientIdentityRemoved != YES")
            )
        for elem in elements:
            report.elements += 1
            self._check_element(relative, elem, report)

    def _check_element(self, relative: str, elem: RawElement, report: VerifyReport) -> None:
        add = report.findings.append
        path, tag = elem.path, elem.tag
        if (tag >> 16) & 1:  # private
            if 0x0010 <= (tag & 0xFFFF) <= 0x00FF:
                return  # a private creator: a vendor's name
            if not self._private_allowed(elem):
                add(Finding(relative, path, "private-tag", f"private element in {tag >> 16:04X}"))
        vr = elem.vr
        for value in elem.values:
            value = value.strip().strip("\x00")
            if not value:
                continue
            if vr == "PN" and not self.pseudonym.match(value) and value != "REMOVED":
                add(Finding(relative, path, "person-name", redact(value, "person name")))
            if vr == "UI":
                if value in self.identifying.uids:
                    source = self.identifying.uids[value]
                    add(Finding(relative, path, "original-uid", redact(value, source)))
                continue
            if vr in ("DA", "DT", "TM"):  # dates have their own rule; digit windows of a
                if value[:8] in self.identifying.dates:  # shifted date-time match by chance
                    source = self.identifying.dates[value[:8]]
                    add(Finding(relative, path, "unshifted-date", redact(value, source)))
                continue
            if vr in NUMERIC_VRS:
                continue
            for kind, evidence, source in self._search(value, vr != "CS"):
                add(Finding(relative, path, kind, redact(evidence, source)))

    def _search(self, value: str, words: bool) -> list[tuple[str, str, str]]:
        key = (value, words)
        found = self._found.get(key)
        if found is None:
            if len(self._found) >= MEMO_SIZE:
                self._found.clear()
            found = self._found[key] = list(self.identifying.search(value, words=words))
        return found

    def _private_allowed(self, elem: RawElement) -> bool:
        if not self.allowed_private:
            return False
        block = f"{elem.tag >> 16:04X},XX{elem.tag & 0xFF:02X}"
        return f"{elem.creator.strip().upper()}|{block}" in self.allowed_private


def dates_by_path(elements: Iterable[RawElement]) -> dict[str, str]:
    """Every DA/DT date by element path, as YYYYMMDD."""
    out = {}
    for elem in elements:
        if elem.vr in ("DA", "DT") and elem.values and len(elem.values[0]) >= 8:
            day = elem.values[0][:8]
            if day.isdigit():
                out[elem.path] = day
    return out


def _as_date(day: str) -> dt.date | None:
    try:
        if len(day) == 8 and day.isdigit():  # the usual YYYYMMDD, without strptime's cost
            return dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
        return dt.datetime.strptime(day, "%Y%m%d").date()
    except ValueError:
        return None


def check_intervals(
    inputs: dict[str, tuple[str, dict[str, str]]],
    outputs: dict[str, dict[str, str]],
    report: VerifyReport,
) -> None:
    """Each patient's dates must all move by one offset: intervals are preserved.

    ``inputs`` maps an output file to (patient key, the input file's dates by
    path); ``outputs`` maps it to its own dates, read by the verifier. The
    offsets are measured here, never read from the de-identifier.
    """
    offsets: dict[str, dict[int, str]] = defaultdict(dict)
    for relative, (patient, before) in inputs.items():
        _add_offsets(relative, patient, before, outputs.get(relative, {}), offsets)
    _report_offsets(offsets, report)


def _add_offsets(relative: str, patient: str, before: dict, after: dict, offsets: dict) -> None:
    """Each date offset of one output file, by patient (the first place it is seen)."""
    for path, day in after.items():
        old, new = _as_date(before.get(path, "")), _as_date(day)
        if old and new:
            offsets[patient].setdefault((new - old).days, f"{relative} {path}")


def _report_offsets(offsets: dict[str, dict[int, str]], report: VerifyReport) -> None:
    for seen in offsets.values():
        if len(seen) > 1:
            where = "; ".join(sorted(seen.values())[:3])
            report.findings.append(
                Finding(
                    where.split(" ")[0],
                    "dates",
                    "date-interval",
                    f"{len(seen)} different date offsets for one patient ({where})",
                )
            )


_STATE: dict[str, object] = {}


def _init_worker(identifying: IdentifyingValues, pattern: str, allowed: list[str]) -> None:
    _STATE["verifier"] = Verifier(identifying, pseudonym_pattern=pattern, allowed_private=allowed)


def _preamble(data: bytes) -> str:
    """The 128 bytes before 'DICM' are free for any use (a TIFF header, a vendor's note)
    and no DICOM reader looks at them: in a release they must all be zero."""
    used = 128 - data[:128].count(0)
    return f"{used} of 128 preamble bytes are not zero" if used else ""


def _check_text(job: tuple[str, int, list[str]]) -> list[Finding]:
    """Search a run of a text file's lines (a table, a report) for identifying values."""
    relative, start, lines = job
    identifying = _STATE["verifier"].identifying  # type: ignore[attr-defined]
    prefetch = getattr(identifying, "prefetch", None)  # a catalogue on disk: one query
    for first in range(0, len(lines), 250) if prefetch is not None else ():  # per 250 lines
        prefetch(lines[first : first + 250])
    return [
        Finding(relative, f"line {number}", kind, redact(evidence, source))
        for number, line in enumerate(lines, start + 1)
        for kind, evidence, source in identifying.search(line, words=False)
    ]


def _check_files(job: tuple[str, list[str]]) -> tuple[list[Finding], int, int, dict]:
    """Verify a batch of DICOM files; return findings, counts and each file's dates."""
    root, relatives = Path(job[0]), job[1]
    verifier: Verifier = _STATE["verifier"]  # type: ignore[assignment]
    report = VerifyReport()
    dates = {}
    for relative in relatives:
        try:  # mapped, not read: the walk skips the pixels, which are never loaded
            with (
                open(root / relative, "rb") as handle,
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
            ):
                elements = elements_of(root / relative, data)
                preamble = _preamble(data)
        except Exception as error:
            report.findings.append(Finding(relative, "", "unreadable", type(error).__name__))
            continue
        if preamble:
            report.findings.append(Finding(relative, "(preamble)", "preamble", preamble))
        prefetch = getattr(verifier.identifying, "prefetch", None)
        if prefetch is not None:  # a catalogue on disk: one query for the whole file
            prefetch(v.strip().strip("\x00") for elem in elements for v in elem.values)
        verifier.check_elements(relative, elements, report)
        dates[relative] = dates_by_path(elements)
    return report.findings, report.files, report.elements, dates


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root`` in the order of ``sorted(root.rglob("*"))`` (names sorted,
    each folder followed by what it holds; links to folders not entered), found as the
    walk goes: one folder's entries in memory at a time."""
    with os.scandir(root) as listing:
        entries = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in listing)
    for name, is_dir in entries:
        path = root / name
        yield path
        if is_dir:
            yield from _walk(path)


def _dicom_batches(root: Path, text_suffixes: tuple[str, ...]) -> Iterator[tuple[str, list]]:
    """(root, up to 32 relative paths) of the files that are not text, in walk order."""
    batch: list[str] = []
    for path in _walk(root):
        if path.is_file() and path.suffix.lower() not in text_suffixes:
            batch.append(str(path.relative_to(root)))
            if len(batch) == 32:
                yield str(root), batch
                batch = []
    if batch:
        yield str(root), batch


def _text_jobs(root: Path, text_files: list[str]) -> Iterator[tuple[str, int, list[str]]]:
    """Runs of ``TEXT_CHUNK`` lines of each text file, one file read at a time."""
    for relative in text_files:
        lines = (root / relative).read_text(errors="replace").splitlines()
        for start in range(0, len(lines), TEXT_CHUNK):  # long tables: searched in parallel
            yield relative, start, lines[start : start + TEXT_CHUNK]


def _in_order(pool, function, jobs: Iterable, window: int) -> Iterator:
    """``pool.map(function, jobs)`` with at most ``window`` jobs submitted at a time: the
    jobs are made as the results come back, never all held at once."""
    pending: deque = deque()
    for job in jobs:
        pending.append(pool.submit(function, job))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def verify_tree(
    root: Path,
    identifying: IdentifyingValues,
    *,
    inputs: dict[str, tuple[str, dict[str, str]]] | None = None,
    pairs: Iterable[tuple[Path, Path, str]] = (),
    allowed_private: Iterable[str] = (),
    pseudonym_pattern: str = r"^[A-Z][A-Z0-9]{1,7}-[A-Z0-9]+$",
    text_suffixes: tuple[str, ...] = (".csv", ".json", ".md", ".txt", ".cff", ".bib"),
    workers: int = 1,
) -> VerifyReport:
    """Verify every file under ``root``: DICOM element by element, text files line by line.

    Interval checks use ``inputs`` (output file -> patient, input dates) or, when
    only paths are known, ``pairs`` of (input file, output file, patient).
    """
    root = Path(root)
    allowed = sorted(allowed_private)
    verifier = Verifier(identifying, pseudonym_pattern=pseudonym_pattern, allowed_private=allowed)
    report = VerifyReport()
    # the tree is walked twice, in the order of sorted(root.rglob("*")), and never listed
    # whole: first every name is checked and the text files noted, then the DICOM files
    # go to the workers in batches as the walk finds them
    text_files: list[str] = []
    for path in _walk(root):
        relative = str(path.relative_to(root))
        verifier.check_name(relative, report)
        if path.is_file() and path.suffix.lower() in text_suffixes:
            report.files += 1
            text_files.append(relative)
    jobs = _dicom_batches(root, text_suffixes)
    text_jobs = _text_jobs(root, text_files)
    args = (identifying, pseudonym_pattern, allowed)
    # with the inputs known, each batch's date offsets are taken as it comes back: memory
    # holds the offsets of each patient, not the dates of every output file
    streamed = inputs is not None
    output_dates: dict[str, dict[str, str]] = {}
    offsets: dict[str, dict[int, str]] = defaultdict(dict)

    def take(result: tuple) -> None:
        findings, files, elements, dates = result
        report.findings.extend(findings)
        report.files += files
        report.elements += elements
        if not streamed:
            output_dates.update(dates)
            return
        get_many = getattr(inputs, "get_many", None)
        before = get_many(dates) if get_many else {r: inputs[r] for r in dates if r in inputs}
        for relative, after in dates.items():
            if relative in before:
                patient, dates_before = before[relative]
                _add_offsets(relative, patient, dates_before, after, offsets)

    if workers > 1:
        from portal.core.workers import process_pool

        with process_pool(
            workers,
            initializer=_init_worker,
            initargs=args,
            preload=["portal.verify_deid.verifier"],
        ) as pool:
            for result in _in_order(pool, _check_files, jobs, 4 * workers):
                take(result)
            for findings in _in_order(pool, _check_text, text_jobs, 4 * workers):
                report.findings.extend(findings)
    else:
        _init_worker(*args)
        for job in text_jobs:
            report.findings.extend(_check_text(job))
        for job in jobs:
            take(_check_files(job))
    if streamed:
        _report_offsets(offsets, report)
        return report
    if inputs is None:
        inputs = {}
        for source, output, patient in pairs:
            try:
                before = elements_of(source)
            except Exception:
                continue
            inputs[str(Path(output).relative_to(root))] = (patient, dates_by_path(before))
    check_intervals(inputs, output_dates, report)
    return report


def verify_folder(folder: Path, export: Path) -> VerifyReport:
    """Verify ``folder`` against the export it came from.

    Identifying values come from every file of ``export`` (DICOM headers, file
    names, the centre names of ``clinical.csv``). When ``folder`` is a staging
    folder, its sibling ``private/sources.json`` pairs outputs with inputs for
    the date-interval check.
    """
    import csv
    import json
    import tempfile

    from portal.verify_deid.store import StoredValues

    folder, export = Path(folder), Path(export)
    with tempfile.TemporaryDirectory(prefix="portal-verify-") as tmp:
        # the catalogue waits on disk, one file's values at a time in memory
        identifying = StoredValues(Path(tmp) / "catalogue.sqlite", writable=True)
        for path in sorted(export.rglob("*")):
            if (
                path.is_file()
                and path.suffix.lower() not in (".csv", ".json")
                and path.name != "SHA256SUMS"
            ):
                identifying.merge(IdentifyingValues.from_files([path]).state())
        clinical = export / "clinical.csv"
        if clinical.is_file():
            with open(clinical, newline="", encoding="utf-8") as handle:
                identifying.add_table_values(
                    (r.get("centre", "") for r in csv.DictReader(handle)), "centre name"
                )
        pairs = []
        sources = folder.parent / "private" / "sources.json"
        if sources.is_file():
            for item in json.loads(sources.read_text()):
                pairs.append((Path(item["input"]), folder / item["output"], item["patient"]))
        identifying.commit()
        report = verify_tree(folder, identifying, pairs=pairs)
        identifying.close()
    return report
