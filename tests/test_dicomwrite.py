"""The fast serialiser writes, byte for byte, what pydicom's save_as writes."""

from __future__ import annotations

import io
import warnings

import pydicom
import pytest

from portal.deid.encoder import PREAMBLE, encode_file
from portal.deid.from_dataset import Deidentifier, Subject
from portal.deid.profile import DeidOptions
from tests.realworld import package_dicom_files

DEID = Deidentifier(b"dicomwrite-test-key-0123456789ab", DeidOptions(pseudonym_prefix="DPK"))
SUBJECT = Subject("DPK-0001", -40000, "C01")


def both(ds: pydicom.Dataset) -> tuple[bytes | None, bytes]:
    fast = encode_file(ds)
    ds.preamble = None  # save_as then writes 128 zero bytes, as the fast path always does
    slow = io.BytesIO()
    ds.save_as(slow, enforce_file_format=True)
    return fast, slow.getvalue()


def test_synthetic_exams_are_written_exactly_as_pydicom_would(full_size_export):
    files = sorted(full_size_export.glob("exams/*/*.dcm"))
    assert files
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        DEID.dataset(ds, SUBJECT)
        fast, slow = both(ds)
        assert fast is not None, f"{path.name}: the synthetic exams take the fast path"
        assert fast == slow, path.name


def test_real_world_files_are_written_exactly_or_left_to_pydicom():
    fast_path = 0
    for path in package_dicom_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                ds.get("PixelData")
                DEID.dataset(ds, SUBJECT)
                fast, slow = both(ds)
            except Exception:  # files pydicom itself cannot read or write: not ours to test
                continue
        if fast is not None:
            fast_path += 1
            assert fast == slow, path.name
    assert fast_path >= 20, f"only {fast_path} real-world files took the fast path"


def test_the_input_preamble_is_never_copied(full_size_export):
    path = next(full_size_export.glob("exams/*/*.dcm"))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ds.preamble = b"II*\x00 PATIENT DUPONT^JEAN ".ljust(128, b"\x00")
    DEID.dataset(ds, SUBJECT)
    out = encode_file(ds)
    assert out is not None and out[:128] == PREAMBLE and out[128:132] == b"DICM"


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.2"])
def test_other_encodings_are_left_to_pydicom(full_size_export, syntax):
    path = next(full_size_export.glob("exams/*/*.dcm"))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ds.file_meta.TransferSyntaxUID = syntax
    assert encode_file(ds) is None
