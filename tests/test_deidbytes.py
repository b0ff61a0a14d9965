"""The byte path de-identifies exactly as the pydicom path does, or steps aside.

For every file it takes, the output bytes, the counts per action, the facts the
quarantine checks read and the split of the input (header, pixel element) must
equal the pydicom path's. Files it cannot read with certainty raise ``Fallback``.
"""

from __future__ import annotations

import shutil
import struct
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

from portal.deid.from_bytes import ByteDeidentifier, Fallback
from portal.deid.from_dataset import Deidentifier, Subject
from portal.deid.profile import DeidOptions
from portal.ingest.staging import Quarantine, _deidentify_dataset, check_facts, ingest
from portal.release.cards import load_card
from portal.synth.export import synthesize
from portal.verify_deid.verifier import elements_of
from tests.realworld import package_dicom_files
from tests.test_deid_phi import add_phi

SCHEMA = load_card(Path(__file__).resolve().parents[1] / "data_cards" / "datpark.md").meta.schema

KEY = b"deidbytes-test-key-0123456789abc"
DEID = Deidentifier(KEY, DeidOptions(pseudonym_prefix="DPK"))
BYTES = ByteDeidentifier(DEID)
SUBJECT = Subject("DPK-0001", -40000, "DPK-C01")


def outcome(deidentified) -> tuple:
    d = deidentified
    return (d.encoded, dict(d.counts), d.facts, d.header, d.tail_offset, d.tail_length)


def assert_same(path: Path) -> None:
    """The byte path takes ``path`` and gives what the pydicom path gives."""
    fast = BYTES.file(path, SUBJECT)
    slow = _deidentify_dataset(DEID, path, SUBJECT)
    assert fast.encoded == slow.encoded, f"{path.name}: other bytes"
    assert outcome(fast) == outcome(slow), path.name


@pytest.fixture(scope="module")
def small_exams(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("bytes") / "export"
    synthesize("datpark", out, exams=4, seed=8, shape=(8, 16, 16))
    return sorted(out.glob("exams/*/*.dcm"))


def _rewrite(source: Path, target: Path, change) -> Path:
    ds = pydicom.dcmread(source)
    change(ds)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


def test_synthetic_exams_take_the_byte_path_with_the_same_result(full_size_export):
    files = sorted(full_size_export.glob("exams/*/*.dcm"))
    assert files
    for path in files:
        assert_same(path)


def test_the_phi_corpus_takes_the_byte_path_with_the_same_result(small_exams, tmp_path):
    for path in small_exams:
        target = _rewrite(path, tmp_path / path.name, lambda ds, p=path: add_phi(ds, p))
        assert_same(target)
        values = {e.tag: e.values for e in elements_of(target)}
        assert 0x00041500 in values, "Referenced File ID (group 0004) is in the input"


def test_undefined_lengths_are_written_as_read(small_exams, tmp_path):
    """Sequences and items of undefined length keep it; the others keep theirs."""

    def undefined(ds: Dataset) -> None:
        for keyword in ("RequestAttributesSequence", "RadiopharmaceuticalInformationSequence"):
            elem = ds[keyword]
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
        ds["OtherPatientIDsSequence"].is_undefined_length = True  # removed: skipped over

    target = _rewrite(small_exams[0], tmp_path / "undefined.dcm", undefined)
    assert b"\xfe\xff\xdd\xe0" in target.read_bytes()[:4096], "a sequence delimiter is there"
    assert_same(target)
    out = BYTES.file(target, SUBJECT).encoded
    # the radiopharmaceutical sequence is kept (its request attributes twin is removed)
    assert out.count(b"\xfe\xff\xdd\xe0") == 1, "a kept sequence keeps its undefined length"
    assert out.count(b"\xfe\xff\x0d\xe0") >= 1, "and its items theirs"


def test_real_world_files_match_or_fall_back():
    """pydicom's and deid-data's files: each one the byte path takes gives the same result
    as the pydicom path, quarantine included."""
    taken = 0
    for path in package_dicom_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fast = BYTES.file(path, SUBJECT)
            except Fallback:
                continue
            taken += 1
            try:
                slow = _deidentify_dataset(DEID, path, SUBJECT)
            except Quarantine as q:
                with pytest.raises(Quarantine) as caught:
                    check_facts(fast.facts)
                assert caught.value.reason == q.reason, path.name
                continue
        check_facts(fast.facts)
        assert outcome(fast) == outcome(slow), path.name
    assert taken >= 30, f"only {taken} real-world files took the byte path"


def test_private_elements_sent_as_un_are_removed_on_the_byte_path(small_exams, tmp_path):
    def vendor(ds: Dataset) -> None:
        ds.add_new(0x00290010, "LO", "ACME PRIVATE 1.0")
        ds.add_new(0x00291010, "UN", str(ds.PatientName).encode() + b" 19680308")

    target = _rewrite(small_exams[3], tmp_path / "un.dcm", vendor)
    assert b"UN\x00\x00" in target.read_bytes()[:8192], "the element is written as UN"
    assert_same(target)
    out = BYTES.file(target, SUBJECT)
    assert out.counts["X-private"] >= 2 and b"ACME" not in out.encoded


def _implicit(ds: Dataset) -> None:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian


def _un_element(ds: Dataset) -> None:
    ds.add_new(0x00089999, "UN", b"WHO KNOWS ")  # a public tag no dictionary holds


def _charset_in_item(ds: Dataset) -> None:
    ds.RadiopharmaceuticalInformationSequence[0].SpecificCharacterSet = "ISO_IR 192"


def _after_pixels(path: Path) -> None:
    with open(path, "ab") as handle:  # Data Set Trailing Padding, after the pixels
        handle.write(struct.pack("<HH2sHI", 0xFFFC, 0xFFFC, b"OB", 0, 4) + b"\x00" * 4)


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:900])  # cut inside the header


def _not_dicom(path: Path) -> None:
    path.write_bytes(b"\x00" * 128 + b"NOPE" + b"\x00" * 200)


@pytest.mark.parametrize(
    "change",
    [_implicit, _un_element, _charset_in_item],
    ids=["implicit VR", "VR UN", "character set in an item"],
)
def test_files_it_cannot_read_with_certainty_fall_back(small_exams, tmp_path, change):
    target = _rewrite(small_exams[1], tmp_path / "odd.dcm", change)
    with pytest.raises(Fallback):
        BYTES.file(target, SUBJECT)
    _deidentify_dataset(DEID, target, SUBJECT)  # the pydicom path takes it


@pytest.mark.parametrize(
    "damage", [_after_pixels, _truncated, _not_dicom], ids=["after pixels", "truncated", "junk"]
)
def test_damaged_or_unusual_bytes_fall_back(small_exams, tmp_path, damage):
    target = tmp_path / "damaged.dcm"
    shutil.copy(small_exams[2], target)
    damage(target)
    with pytest.raises(Fallback):
        BYTES.file(target, SUBJECT)


def test_a_private_allow_list_leaves_files_to_the_pydicom_path(small_exams):
    options = DeidOptions(pseudonym_prefix="DPK", private_allowlist=["GEMS_GENIE_1|0011,XXA3"])
    with pytest.raises(Fallback):
        ByteDeidentifier(Deidentifier(KEY, options)).file(small_exams[0], SUBJECT)


def test_ingest_mixes_both_paths_and_the_verifier_passes(small_exams, tmp_path):
    """An export where one file is implicit VR (pydicom path) and the rest explicit."""
    export = tmp_path / "export"
    shutil.copytree(small_exams[0].parents[2], export)
    implicit = sorted(export.glob("exams/*/*.dcm"))[0]
    _rewrite(implicit, implicit, _implicit)
    # the export's checksums list the old bytes of the rewritten file
    (export / "SHA256SUMS").unlink(missing_ok=True)
    summary = ingest(
        "datpark",
        export,
        tmp_path / "data",
        options=DEID.options,
        schema=SCHEMA,
        key=KEY,
        workers=2,
    )
    assert summary.files == len(small_exams) and summary.quarantined == 0
    staged = sorted((tmp_path / "data" / "staging" / "dicom").rglob("*.dcm"))
    syntaxes = {
        str(pydicom.dcmread(p, stop_before_pixels=True).file_meta.TransferSyntaxUID) for p in staged
    }
    assert syntaxes == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
