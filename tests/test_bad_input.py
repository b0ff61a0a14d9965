"""A corpus of bad input driven through the real ``portal ingest`` and ``portal release``.

One small good project (export, staging, release 1.0.0) is built once; every case
copies it, spoils one thing, runs the command line as a subprocess and checks:
no traceback, the exit code, the message naming the file, row, key or tag, and,
where the input is refused, staging, releases and private files byte for byte
as they were.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.conftest import ROOT, small_release, tree_hashes

KEY = b"small-release-key-0123456789abcde"  # the key small_release ingests with
EXPORT = Path("raw/datpark")
DATA = Path("data/datpark")
STAGING = DATA / "staging"
EXAMS = 8
PARAMS = """\
challenges:
  datpark:
    title: "DaT-Park: normal vs pathological DaT-SPECT"
releases:
  datpark-1.0.0:
    challenge: datpark
    version: 1.0.0
    date: "2025-06-01"
    notes: "First release of the test project."
  datpark-1.1.0:
    challenge: datpark
    version: 1.1.0
    date: "{date}"
    notes: "A second release of the test project."
  datpark-0.9.0:
    challenge: datpark
    version: 0.9.0
    date: "2025-07-01"
    notes: "A version lower than the published one."
"""


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project: data card, params, an 8-exam export, its staging and release 1.0.0."""
    root = tmp_path_factory.mktemp("bad-input") / "good"
    (root / "data_cards").mkdir(parents=True)
    shutil.copy(ROOT / "data_cards" / "datpark.md", root / "data_cards")
    (root / "params.yaml").write_text(PARAMS.format(date="2025-07-01"))
    small_release(root / EXPORT, root / DATA, exams=EXAMS, seed=21)
    return root


def run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PORTAL_DEID_KEY": KEY.hex(), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", "--quiet", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def state(project: Path) -> dict[str, dict[str, str]]:
    """What a refused command must leave as it was."""
    return {
        part: tree_hashes(project / DATA / part) if (project / DATA / part).exists() else {}
        for part in ("staging", "releases", "private")
    }


# -- ways to spoil a project ----------------------------------------------------------------
def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def set_cell(table: str, row: int, column: str, value: str, folder: Path = EXPORT):
    """Set one cell (``row`` 0 is the first data row, line 2 of the file)."""

    def spoil(project: Path) -> None:
        path = project / folder / table
        rows = rows_of(path)
        rows[row][column] = value
        write_rows(path, rows)

    return spoil


def edit_line(table: str, line: int, edit: Callable[[str], str], folder: Path = EXPORT):
    """Rewrite one line of a table (``line`` 1 is the header)."""

    def spoil(project: Path) -> None:
        path = project / folder / table
        lines = path.read_text(encoding="utf-8").split("\n")
        lines[line - 1] = edit(lines[line - 1])
        path.write_text("\n".join(lines), encoding="utf-8")

    return spoil


def fields(n: int) -> Callable[[str], str]:
    return lambda line: ",".join(line.split(",")[:n])


def prepend_bom(*tables: str, folder: Path = EXPORT):
    def spoil(project: Path) -> None:
        for table in tables:
            path = project / folder / table
            path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    return spoil


def write_bytes(table: str, data: bytes, folder: Path = EXPORT):
    def spoil(project: Path) -> None:
        (project / folder / table).write_bytes(data)

    return spoil


def dicom_files(project: Path) -> list[Path]:
    return sorted((project / EXPORT / "exams").glob("*/*.dcm"))


def spoil_dicom(make: Callable[[Path], bytes], count: int = 1):
    """Replace the first ``count`` DICOM files of the export by ``make(file)``."""

    def spoil(project: Path) -> None:
        for path in dicom_files(project)[:count]:
            path.write_bytes(make(path))

    return spoil


def garbage(path: Path) -> bytes:
    return b"this is not an image\n" * 200


# DICOM byte surgery (explicit VR little endian, as the synthetic export writes)
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT"}


def top_elements(data: bytes) -> list[tuple[int, int]]:
    """(tag, offset) of each top-level data set element, until the first undefined length."""
    pos = 144 + struct.unpack_from("<I", data, 140)[0]
    out = []
    while pos + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, pos)
        out.append(((group << 16) | element, pos))
        if data[pos + 4 : pos + 6] in LONG_VRS:
            length, head = struct.unpack_from("<I", data, pos + 8)[0], 12
        else:
            length, head = struct.unpack_from("<H", data, pos + 6)[0], 8
        if length == 0xFFFFFFFF:
            if group == 0x7FE0:
                break
            # skip a delimited sequence by its delimiter (the synthetic files nest one level)
            pos = data.index(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0), pos) + 8
            continue
        pos += head + length
    return out


def insert_before(data: bytes, tag: int, blob: bytes) -> bytes:
    at = next(offset for t, offset in top_elements(data) if t > tag)
    return data[:at] + blob + data[at:]


def corrupt_sequence_length(path: Path) -> bytes:
    data = path.read_bytes()
    at = dict(top_elements(data))[0x00101002]  # OtherPatientIDsSequence
    return data[: at + 8] + struct.pack("<I", 0x7FFFFFF0) + data[at + 12 :]


def corrupt_ut_length(path: Path) -> bytes:
    head = struct.pack("<HH", 0x0040, 0xA160) + b"UT\x00\x00" + struct.pack("<I", 0x7FFFFFF0)
    return insert_before(path.read_bytes(), 0x0040A160, head + b"clinical note.")


def deep_nesting(path: Path, depth: int = 1200) -> bytes:
    sequence = struct.pack("<HH", 0x0040, 0x0275) + b"SQ\x00\x00" + b"\xff" * 4
    item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
    ends = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return insert_before(path.read_bytes(), 0x00400275, (sequence + item) * depth + ends * depth)


def with_syntax(data: bytes, syntax: str) -> bytes:
    """``data`` with its file meta's TransferSyntaxUID replaced (the data set unchanged)."""
    value = syntax.encode() + (b"\x00" if len(syntax) % 2 else b"")
    pos, end = 144, 144 + struct.unpack_from("<I", data, 140)[0]
    while pos < end:
        element = struct.unpack_from("<H", data, pos + 2)[0]
        long = data[pos + 4 : pos + 6] in LONG_VRS
        length = struct.unpack_from("<I" if long else "<H", data, pos + (8 if long else 6))[0]
        head = 12 if long else 8
        if element == 0x0010:
            new = data[pos : pos + 6] + struct.pack("<H", len(value)) + value
            data = data[:pos] + new + data[pos + head + length :]
            grown = struct.unpack_from("<I", data, 140)[0] + len(value) - length
            return data[:140] + struct.pack("<I", grown) + data[144:]
        pos += head + length
    raise AssertionError("no transfer syntax in the file meta")


def implicit_body_explicit_meta(path: Path) -> bytes:
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out = path.with_suffix(".implicit")
    ds.save_as(out, enforce_file_format=True)
    data = out.read_bytes()
    out.unlink()
    return with_syntax(data, ExplicitVRLittleEndian)


def explicit_body_implicit_meta(path: Path) -> bytes:
    return with_syntax(path.read_bytes(), ImplicitVRLittleEndian)


def truncated(path: Path) -> bytes:
    return path.read_bytes()[:-1000]


def link(relative: str, target: str | Callable[[Path], Path]):
    """A symbolic link at ``relative`` (inside the export) to ``target``."""

    def spoil(project: Path) -> None:
        where = project / EXPORT / relative
        goal = target(project) if callable(target) else Path(target)
        if where.is_dir() and not where.is_symlink():
            shutil.rmtree(where)
        where.parent.mkdir(parents=True, exist_ok=True)
        where.symlink_to(goal)

    return spoil


def exam_copied_outside(project: Path) -> Path:
    outside = project.parent / f"{project.name}-elsewhere"
    shutil.copytree(project / EXPORT / "exams" / "DPK-E00003", outside)
    return outside


def fifo(project: Path) -> None:
    os.mkfifo(project / EXPORT / "exams" / "DPK-E00003" / "pipe.dcm")


def remove(relative: str, folder: Path = EXPORT):
    def spoil(project: Path) -> None:
        path = project / folder / relative
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()

    return spoil


def staging_link_outside(project: Path) -> None:
    path = next((project / STAGING / "dicom").glob("*/*.dcm"))
    path.unlink()
    path.symlink_to("/etc/passwd")


def staging_garbage(project: Path) -> None:
    next((project / STAGING / "dicom").glob("*/*.dcm")).write_bytes(b"garbage" * 40)


def params_date(date: str):
    def spoil(project: Path) -> None:
        (project / "params.yaml").write_text(PARAMS.format(date=date))

    return spoil


def semicolons(project: Path) -> None:
    path = project / EXPORT / "labels.csv"
    path.write_text(path.read_text().replace(",", ";"))


def duplicate_header(project: Path) -> None:
    edit_line("labels.csv", 1, lambda line: line.replace("gray_zone", "label"))(project)


def patient_in_two_splits(project: Path) -> None:
    labels, splits = rows_of(project / EXPORT / "labels.csv"), None
    splits = rows_of(project / EXPORT / "splits.csv")
    labels[1]["patient_id"] = labels[0]["patient_id"]
    splits[1]["split"] = "train" if splits[0]["split"] != "train" else "private_test"
    write_rows(project / EXPORT / "labels.csv", labels)
    write_rows(project / EXPORT / "splits.csv", splits)
    clinical = rows_of(project / EXPORT / "clinical.csv")
    clinical[1]["patient_id"] = labels[0]["patient_id"]
    write_rows(project / EXPORT / "clinical.csv", clinical)


def drop_column(table: str, column: str, folder: Path = EXPORT):
    def spoil(project: Path) -> None:
        rows = rows_of(project / folder / table)
        for row in rows:
            del row[column]
        write_rows(project / folder / table, rows)

    return spoil


def drop_row(table: str, row: int, folder: Path = EXPORT):
    def spoil(project: Path) -> None:
        rows = rows_of(project / folder / table)
        write_rows(project / folder / table, rows[:row] + rows[row + 1 :], list(rows[0]))

    return spoil


def duplicate_row(project: Path) -> None:
    path = project / EXPORT / "labels.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1]]) + "\n")


# -- the corpus -----------------------------------------------------------------------------
INGEST = ("ingest", "datpark", "--workers", "1")
RELEASE = ("release", "datpark", "--version", "1.1.0")


@dataclass(frozen=True)
class Case:
    """One kind of bad input: how to make it, the command, what must be said."""

    spoil: Callable[[Path], None]
    command: tuple[str, ...]
    exit_code: int
    says: tuple[str, ...]
    refused: bool = True  # False: handled (quarantined, accepted) and the run goes on
    quarantined: dict[str, int] = field(default_factory=dict)  # deid_report codes expected


CASES = {
    # export tables: rows, encodings, values
    "labels-short-row": Case(
        edit_line("labels.csv", 3, fields(2)),
        INGEST,
        3,
        ("labels.csv row 3: 2 field(s) where the header has 6",),
    ),
    "clinical-short-row": Case(
        edit_line("clinical.csv", 4, fields(3)),
        INGEST,
        3,
        ("clinical.csv row 4: 3 field(s) where the header has",),
    ),
    "splits-short-row": Case(
        edit_line("splits.csv", 2, fields(1)),
        INGEST,
        3,
        ("splits.csv row 2: 1 field(s) where the header has 2",),
    ),
    "labels-long-row": Case(
        edit_line("labels.csv", 5, lambda line: line + ",extra"),
        INGEST,
        3,
        ("labels.csv row 5: 7 field(s) where the header has 6",),
    ),
    "labels-bom-accepted": Case(
        prepend_bom("labels.csv"), INGEST, 0, ("Staged in",), refused=False
    ),
    "all-tables-bom-accepted": Case(
        prepend_bom("labels.csv", "splits.csv", "clinical.csv"),
        INGEST,
        0,
        ("Staged in",),
        refused=False,
    ),
    "label-outside-classes": Case(
        set_cell("labels.csv", 0, "label", "maybe"),
        INGEST,
        3,
        ("labels.csv row 2: label 'maybe' is not one of normal, pathological",),
    ),
    "gray-zone-not-boolean": Case(
        set_cell("labels.csv", 1, "gray_zone", "yes"),
        INGEST,
        3,
        ("labels.csv row 3: gray_zone 'yes' must be true or false",),
    ),
    "unknown-split": Case(
        set_cell("splits.csv", 0, "split", "validation"),
        INGEST,
        3,
        ("splits.csv row 2: split 'validation' is not one of",),
    ),
    "age-not-a-number": Case(
        set_cell("clinical.csv", 0, "age", "sixty"),
        INGEST,
        3,
        ("clinical.csv row 2: age 'sixty' is not a whole number from 0 to 130",),
    ),
    "age-out-of-range": Case(
        set_cell("clinical.csv", 2, "age", "999"),
        INGEST,
        3,
        ("clinical.csv row 4: age '999' is not a whole number",),
    ),
    "unknown-sex": Case(
        set_cell("clinical.csv", 0, "sex", "X"),
        INGEST,
        3,
        ("clinical.csv row 2: sex 'X' is not one of M, F, O",),
    ),
    "empty-centre": Case(
        set_cell("clinical.csv", 1, "centre", ""),
        INGEST,
        3,
        ("clinical.csv row 3: empty centre",),
    ),
    "exam-id-with-space": Case(
        set_cell("labels.csv", 0, "exam_id", "DPK E00001"),
        INGEST,
        3,
        ("labels.csv row 2: exam_id 'DPK E00001' is not a plain identifier",),
    ),
    "duplicate-exam-row": Case(
        duplicate_row, INGEST, 3, (f"labels.csv row {EXAMS + 2}: exam DPK-E00001 already on row 2",)
    ),
    "patient-in-two-splits": Case(
        patient_in_two_splits, INGEST, 3, ("splits must be at patient level",)
    ),
    "clinical-patient-differs": Case(
        set_cell("clinical.csv", 0, "patient_id", "DPK-P9999"),
        INGEST,
        3,
        ("clinical.csv row 2: patient_id 'DPK-P9999' differs from labels.csv row 2",),
    ),
    "nul-byte": Case(
        edit_line("labels.csv", 3, lambda line: line + "\x00"),
        INGEST,
        3,
        ("labels.csv row 3: gray_zone 'false\\x00' must be true or false",),
    ),
    "field-over-csv-limit": Case(
        edit_line("clinical.csv", 3, lambda line: line + ',"' + "x" * 200_000 + '"'),
        INGEST,
        3,
        ("clinical.csv row 3: not readable as CSV (field larger than field limit",),
    ),
    "latin-1-table": Case(
        write_bytes(
            "labels.csv",
            "exam_id,patient_id,label,gray_zone\nDPK-É1,P,normal,false\n".encode("latin-1"),
        ),
        INGEST,
        3,
        ("labels.csv: not UTF-8 text",),
    ),
    "semicolon-separated": Case(
        semicolons, INGEST, 3, ("labels.csv: columns are separated by ';'",)
    ),
    "duplicate-header": Case(
        duplicate_header, INGEST, 3, ("labels.csv: column(s) label appear more than once",)
    ),
    "empty-table": Case(
        write_bytes("labels.csv", b""), INGEST, 3, ("labels.csv: empty file (no header line)",)
    ),
    "missing-table": Case(remove("splits.csv"), INGEST, 3, ("splits.csv: missing",)),
    "missing-column": Case(
        drop_column("labels.csv", "gray_zone"),
        INGEST,
        3,
        ("labels.csv: missing column(s) gray_zone (header: exam_id, patient_id",),
    ),
    # the exams/ tree
    "missing-exam-folder": Case(
        remove("exams/DPK-E00003"), INGEST, 3, ("label for missing exam DPK-E00003",)
    ),
    "no-exams-folder": Case(remove("exams"), INGEST, 3, ("exams/: missing",)),
    "stray-file-in-exams": Case(
        lambda p: (p / EXPORT / "exams" / "notes.txt").write_text("hello"),
        INGEST,
        3,
        ("exams/notes.txt: a file directly under exams/",),
    ),
    "file-link-outside": Case(
        link("exams/DPK-E00001/evil.dcm", "/etc/passwd"),
        INGEST,
        3,
        ("exams/DPK-E00001/evil.dcm: a link to /etc/passwd, outside the export",),
    ),
    "folder-link-outside": Case(
        link("exams/DPK-E00002/more", "/etc"),
        INGEST,
        3,
        ("exams/DPK-E00002/more: a link to /etc, outside the export",),
    ),
    "exam-folder-link-outside": Case(
        link("exams/DPK-E00003", exam_copied_outside),
        INGEST,
        3,
        ("exams/DPK-E00003: a link to", "outside the export"),
    ),
    "dangling-link": Case(
        link("exams/DPK-E00004/gone.dcm", "/nonexistent/file.dcm"),
        INGEST,
        3,
        ("exams/DPK-E00004/gone.dcm: a link to /nonexistent/file.dcm, which does not exist",),
    ),
    "named-pipe": Case(fifo, INGEST, 3, ("exams/DPK-E00003/pipe.dcm: a named pipe, not a file",)),
    "export-not-found": Case(remove(""), INGEST, 3, ("raw/datpark: export folder not found",)),
    # DICOM files: refused as a whole, or quarantined with their own reason
    "every-file-garbage": Case(
        spoil_dicom(garbage, EXAMS),
        INGEST,
        3,
        (
            f"no exam can be staged: all {EXAMS} file(s) of the export were quarantined",
            f"not-dicom: {EXAMS} file(s)",
            "exams/DPK-E00001/",
        ),
    ),
    "most-files-garbage": Case(
        spoil_dicom(garbage, 6),
        INGEST,
        4,
        (
            "this ingest would stage 2 exam(s) where the current staging holds 8",
            "not-dicom: 6 file(s)",
            "--allow-shrink",
        ),
    ),
    "most-files-garbage-allowed": Case(
        spoil_dicom(garbage, 6),
        (*INGEST, "--allow-shrink"),
        0,
        ("quarantined: not-dicom: 6 file(s)",),
        refused=False,
        quarantined={"not-dicom": 6},
    ),
    "one-file-not-dicom": Case(
        spoil_dicom(garbage),
        INGEST,
        0,
        ("quarantined: not-dicom: 1 file(s)", "exams/DPK-E00001/"),
        refused=False,
        quarantined={"not-dicom": 1},
    ),
    "corrupt-sequence-length": Case(
        spoil_dicom(corrupt_sequence_length),
        INGEST,
        0,
        ("quarantined: corrupt-length: 1 file(s)", "sequence (0010,1002) declares 2147483632"),
        refused=False,
        quarantined={"corrupt-length": 1},
    ),
    "corrupt-ut-length": Case(
        spoil_dicom(corrupt_ut_length),
        INGEST,
        0,
        ("quarantined: corrupt-length: 1 file(s)", "element (0040,A160) (UT) declares"),
        refused=False,
        quarantined={"corrupt-length": 1},
    ),
    "nesting-1200-deep": Case(
        spoil_dicom(deep_nesting),
        INGEST,
        0,
        ("quarantined: nesting-too-deep: 1 file(s)",),
        refused=False,
        quarantined={"nesting-too-deep": 1},
    ),
    "implicit-body-explicit-meta": Case(
        spoil_dicom(implicit_body_explicit_meta),
        INGEST,
        0,
        ("quarantined: syntax-mismatch: 1 file(s)", "file meta says Explicit VR Little Endian"),
        refused=False,
        quarantined={"syntax-mismatch": 1},
    ),
    "explicit-body-implicit-meta": Case(
        spoil_dicom(explicit_body_implicit_meta),
        INGEST,
        0,
        ("quarantined: syntax-mismatch: 1 file(s)", "file meta says Implicit VR Little Endian"),
        refused=False,
        quarantined={"syntax-mismatch": 1},
    ),
    "truncated-pixels": Case(
        spoil_dicom(truncated),
        INGEST,
        0,
        ("quarantined: truncated-pixels: 1 file(s)",),
        refused=False,
        quarantined={"truncated-pixels": 1},
    ),
    # a staging changed after ingest: release re-checks it against the contract
    "staging-label-outside-classes": Case(
        set_cell("labels.csv", 0, "label", "maybe", STAGING),
        RELEASE,
        3,
        (
            "labels.csv row 2: label 'maybe' is not one of normal, pathological",
            "nothing is released",
        ),
    ),
    "staging-short-row": Case(
        edit_line("labels.csv", 2, fields(2), STAGING),
        RELEASE,
        3,
        ("labels.csv row 2: 2 field(s) where the header has 6",),
    ),
    "staging-unknown-split": Case(
        set_cell("splits.csv", 1, "split", "validation", STAGING),
        RELEASE,
        3,
        ("splits.csv row 3: split 'validation' is not one of",),
    ),
    "staging-missing-clinical-row": Case(
        drop_row("clinical.csv", 0, STAGING),
        RELEASE,
        3,
        ("clinical.csv: no row for exam DPK-E00001 (labels.csv row 2)",),
    ),
    "staging-exam-without-images": Case(
        remove("dicom/DPK-E00002", STAGING),
        RELEASE,
        3,
        ("labels.csv row 3: exam DPK-E00002 has no image",),
    ),
    "staging-link-outside": Case(
        staging_link_outside, RELEASE, 3, ("a link to /etc/passwd, outside the staging",)
    ),
    "staging-file-not-dicom": Case(
        staging_garbage, RELEASE, 3, ("dicom/DPK-E00001/0001.dcm: not a DICOM file",)
    ),
    "staging-bom": Case(
        prepend_bom("splits.csv", folder=STAGING),
        RELEASE,
        3,
        ("splits.csv: file starts with a byte-order mark",),
    ),
    "staging-report-not-json": Case(
        write_bytes("deid_report.json", b"{not json", STAGING),
        RELEASE,
        3,
        ("deid_report.json: not valid JSON",),
    ),
    # release parameters
    "release-date-not-a-date": Case(
        params_date("2025-13-45"),
        RELEASE,
        2,
        ("releases.datpark-1.1.0.date", "'2025-13-45' is not a calendar date"),
    ),
    "release-date-february-30": Case(
        params_date("2025-02-30"),
        RELEASE,
        2,
        ("releases.datpark-1.1.0.date", "'2025-02-30' is not a calendar date"),
    ),
    "release-version-lower": Case(
        lambda p: None,
        ("release", "datpark", "--version", "0.9.0"),
        7,
        ("version 0.9.0 of datpark is lower than its latest release 1.0.0",),
    ),
    "release-version-not-listed": Case(
        lambda p: None,
        ("release", "datpark", "--version", "1.0"),
        2,
        ("no release datpark-1.0 in params.yaml",),
    ),
    "params-not-utf-8": Case(
        lambda p: (p / "params.yaml").write_bytes(
            PARAMS.format(date="2025-07-01").replace("First", "Premi\xe8re").encode("latin-1")
        ),
        RELEASE,
        2,
        ("params.yaml is not UTF-8 text",),
    ),
    "params-not-yaml": Case(
        lambda p: (p / "params.yaml").write_text("releases: [unclosed\n"),
        RELEASE,
        2,
        ("params.yaml is not valid YAML",),
    ),
    "card-not-utf-8": Case(
        lambda p: (p / "data_cards" / "datpark.md").write_bytes(
            (ROOT / "data_cards" / "datpark.md").read_text().encode("utf-16")
        ),
        INGEST,
        2,
        ("datpark.md is not UTF-8 text",),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, good: Path, tmp_path: Path) -> None:
    case = CASES[name]
    project = tmp_path / "project"
    shutil.copytree(good, project, symlinks=True)
    case.spoil(project)
    before = state(project)

    result = run(project, *case.command)
    output = result.stdout + result.stderr

    assert "Traceback" not in output, output
    assert result.returncode == case.exit_code, output
    flat = " ".join(output.split())  # Rich wraps long lines
    for text in case.says:
        assert " ".join(text.split()) in flat, f"{text!r} not in:\n{output}"
    if case.refused:
        assert state(project) == before, "a refused input changed staging, releases or private"
    if case.quarantined:
        report = json.loads((project / STAGING / "deid_report.json").read_text())
        assert {c: v["count"] for c, v in report["quarantine"].items()} == case.quarantined
        for outcome in report["files"]:
            if outcome["status"] == "quarantined":
                assert outcome["code"] in case.quarantined, outcome
                assert "NM_" not in json.dumps(outcome), "an input file name in the report"


def test_a_byte_order_mark_is_dropped_and_stages_the_same_bytes(good, tmp_path):
    """Spreadsheets write a BOM: the staging is the one the same tables without it give."""
    project = tmp_path / "project"
    shutil.copytree(good, project, symlinks=True)
    prepend_bom("labels.csv", "splits.csv", "clinical.csv")(project)
    before = tree_hashes(project / STAGING)
    report = json.loads((project / STAGING / "deid_report.json").read_text())
    result = run(project, *INGEST)
    assert result.returncode == 0, result.stderr
    after = tree_hashes(project / STAGING)
    # the report differs only in where the key came from (the environment, here)
    assert {k: v for k, v in after.items() if k != "deid_report.json"} == {
        k: v for k, v in before.items() if k != "deid_report.json"
    }
    again = json.loads((project / STAGING / "deid_report.json").read_text())
    report["profile"].pop("key_source"), again["profile"].pop("key_source")
    assert again == report
    assert not (project / STAGING / "labels.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_a_link_out_of_the_export_is_never_followed_nor_copied(good, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(good, project, symlinks=True)
    link("exams/DPK-E00001/evil.dcm", "/etc/passwd")(project)
    run(project, *INGEST)
    copied = [p for p in (project / DATA).rglob("*") if p.name == "evil.dcm"]
    assert copied == []
    passwd = Path("/etc/passwd").read_bytes()
    assert all(p.read_bytes() != passwd for p in (project / DATA).rglob("*") if p.is_file())


def test_the_corpus_covers_at_least_thirty_kinds():
    assert len(CASES) >= 30
    assert {c.command[0] for c in CASES.values()} == {"ingest", "release"}
