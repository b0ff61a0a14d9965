"""The synthetic exams are valid NM DICOM, carry the volume, and are full of identifiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from portal.synth.cohort import build_cohort
from portal.synth.nmdicom import file_name
from portal.synth.phantom import Geometry, render
from tests import dciodvfy
from tests.conftest import read_csv

needs_dciodvfy = pytest.mark.skipif(
    not dciodvfy.available() and not __import__("os").environ.get("CI"),
    reason="dciodvfy (dicom3tools) not installed; `make setup` installs it",
)


def dicom_files(export: Path) -> list[Path]:
    return sorted(export.glob("exams/*/*.dcm"))


@needs_dciodvfy
def test_dciodvfy_reports_no_error_on_a_sample(full_size_export):
    files = dicom_files(full_size_export)
    assert len(files) == 12
    centres = set()
    for path in files[:8]:
        report = dciodvfy.check(path)
        assert report.ok, f"{path.name}: {report.errors}"
        centres.add(pydicom.dcmread(path, stop_before_pixels=True).ManufacturerModelName)
    assert len(centres) >= 3, "the sample should span several scanners"


def test_volume_is_an_nm_multiframe_at_the_default_shape(full_size_export):
    path = dicom_files(full_size_export)[0]
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.20"
    assert list(ds.ImageType)[2] == "RECON TOMO"
    assert (ds.NumberOfFrames, ds.Rows, ds.Columns) == (64, 128, 128)
    pixels = ds.pixel_array
    assert pixels.dtype == np.uint16 and pixels.shape == (64, 128, 128)
    assert ds.NumberOfSlices == 64 and list(ds.SliceVector) == list(range(1, 65))
    assert pixels.max() > 50 and (pixels == 0).mean() > 0.3  # counts in the head, air around


def test_pixels_are_the_rendered_volume(cohort_export):
    """Re-rendering an exam from its seed gives exactly the stored pixels."""
    from tests.conftest import SMALL_SHAPE

    exams = build_cohort(240, 11)
    exam = exams[7]
    rng = np.random.default_rng(np.random.SeedSequence([11, 0x5EED, 7]))
    geometry = Geometry.for_centre(exam.centre, SMALL_SHAPE)
    expected = render(geometry, exam.centre, exam.pose, exam.binding, rng)
    stored = pydicom.dcmread(cohort_export / "exams" / exam.exam_id / file_name(exam))
    np.testing.assert_array_equal(stored.pixel_array, expected)
    assert float(stored.PixelSpacing[0]) == pytest.approx(geometry.spacing_mm)


def test_headers_carry_identifiers_everywhere_hospitals_put_them(full_size_export):
    clinical = {r["exam_id"]: r for r in read_csv(full_size_export / "clinical.csv")}
    for path in dicom_files(full_size_export):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert "^" in str(ds.PatientName) and ds.PatientBirthDate and ds.PatientID
        assert ds.PatientID in path.name, "hospital file names carry the patient ID"
        assert ds.OtherPatientIDsSequence[0].PatientID.isdigit()
        assert ds.PatientAddress and ds.PatientTelephoneNumbers
        assert ds.RequestAttributesSequence[0].AccessionNumber == ds.AccessionNumber
        pharma = ds.RadiopharmaceuticalInformationSequence[0]
        assert pharma.RadiopharmaceuticalStartDateTime[:8] == ds.StudyDate
        assert float(pharma.RadionuclideTotalDose) == pytest.approx(
            float(clinical[path.parent.name]["injected_dose_mbq"])
        )
        assert ds.InstitutionName == clinical[path.parent.name]["centre"]
        assert ds.StationName and ds.ReferringPhysicianName and ds.PerformingPhysicianName
        private = [e for e in ds if e.tag.is_private and not e.tag.is_private_creator]
        family = str(ds.PatientName).split("^")[0]
        assert any(family in str(e.value) or ds.PatientID in str(e.value) for e in private), (
            "the vendor private block should copy an identifier"
        )
        assert ds.StudyDate <= ds.ContentDate


def test_patient_characteristics_match_the_clinical_table(full_size_export):
    clinical = {r["exam_id"]: r for r in read_csv(full_size_export / "clinical.csv")}
    for path in dicom_files(full_size_export):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        row = clinical[path.parent.name]
        assert ds.PatientSex == row["sex"]
        assert int(ds.PatientAge[:3]) == int(row["age"])
        assert int(ds.PatientWeight) == int(row["weight_kg"])
