"""The verifier's own pieces: its byte-level reader, and false positives it must not raise."""

from __future__ import annotations

import warnings

import pydicom
import pytest
from pydicom.dataset import Dataset

from portal.verify_deid.rawdicom import UnsupportedEncoding, read_elements
from portal.verify_deid.verifier import IdentifyingValues, Verifier, VerifyReport
from tests.realworld import package_dicom_files


def pydicom_paths(ds: Dataset) -> set[str]:
    paths = set()

    def walk(dataset: Dataset, prefix: str) -> None:
        for elem in dataset:
            path = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
            paths.add(path)
            if elem.VR == "SQ" and elem.value:
                for i, item in enumerate(elem.value):
                    walk(item, f"{path}[{i}]/")

    walk(ds.file_meta, "meta/")
    walk(ds, "")
    return paths


def test_byte_reader_sees_every_element_pydicom_sees(cohort_export):
    files = sorted(cohort_export.glob("exams/*/*.dcm"))[:3] + package_dicom_files()
    compared = 0
    for path in files:
        try:
            raw = {e.path for e in read_elements(path)}
        except (UnsupportedEncoding, ValueError):
            continue  # big endian, deflated, not Part 10, truncated: left to pydicom or quarantine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True)
        assert raw == pydicom_paths(ds), path.name
        compared += 1
    assert compared > 100


def test_byte_reader_decodes_values_and_private_creators(cohort_export):
    path = sorted(cohort_export.glob("exams/*/*.dcm"))[0]
    ds = pydicom.dcmread(path)
    elements = {e.path: e for e in read_elements(path)}
    assert elements["(0010,0010)"].values == (str(ds.PatientName),)  # accents decoded (Latin-1)
    nested = "(0040,0275)[0]/(0008,0050)"
    assert elements[nested].values == (ds.RequestAttributesSequence[0].AccessionNumber,)
    private = [e for e in elements.values() if e.is_private and not e.is_private_creator]
    assert private and all(e.creator for e in private)


def test_a_shifted_datetime_is_not_mistaken_for_an_id_by_its_digits():
    identifying = IdentifyingValues()
    identifying.add_file_name("NM_5912345678_20180500.dcm")  # IDs and dates in a file name
    identifying.digits["20180501"] = "input file name"
    verifier = Verifier(identifying)
    report = VerifyReport()
    from portal.verify_deid.rawdicom import RawElement

    shifted = RawElement("(0018,1078)", 0x00181078, "DT", ("19210120180501",), "")
    verifier._check_element("x.dcm", shifted, report)
    assert report.passed, report.findings
    leaked = RawElement("(0020,4000)", 0x00204000, "LT", ("ID 20180501 seen",), "")
    verifier._check_element("x.dcm", leaked, report)
    assert not report.passed


@pytest.mark.parametrize("value", ["REMOVED", "DPK-P0001", ""])
def test_pseudonyms_and_dummies_are_not_person_names(value):
    from portal.verify_deid.rawdicom import RawElement

    report = VerifyReport()
    Verifier(IdentifyingValues())._check_element(
        "x.dcm", RawElement("(0010,0010)", 0x00100010, "PN", (value,) if value else (), ""), report
    )
    assert report.passed
