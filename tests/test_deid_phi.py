"""A PHI corpus built by the test: identifiers in every place hospitals hide them.

After ``ingest`` the verifier finds nothing and none of the values is left;
and for each place, putting the original element back into the de-identified
file (as if de-identification had skipped it) makes the verifier report it at
that exact place.
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from portal.deid.profile import DeidOptions
from portal.ingest.staging import ingest
from portal.release.cards import load_card
from portal.synth.export import synthesize
from portal.verify_deid.verifier import IdentifyingValues, verify_tree

SCHEMA = load_card(Path(__file__).resolve().parents[1] / "data_cards" / "datpark.md").meta.schema

KEY = bytes(range(32))
OPTIONS = DeidOptions(pseudonym_prefix="DPK")
PHYSICIAN = "DESCHAMPS^Odile^^Dr"
OLD_NAME = "DURANDEAU^Ginette"


def _item(**values) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def add_phi(ds: Dataset, path: Path) -> None:
    """Put identifiers where the issue lists them (the synthetic headers hold the rest)."""
    name = str(ds.PatientName)
    # Patient name three sequence levels deep, inside sequences the profile keeps.
    level3 = _item(PatientName=name, CodeValue="X", CodingSchemeDesignator="99LOCAL")
    level2 = ds.RadiopharmaceuticalInformationSequence[0].RadionuclideCodeSequence[0]
    level2.EquivalentCodeSequence = Sequence([level3])
    # Acquisition Context Sequence with a text value naming the patient.
    context = _item(ValueType="TEXT", TextValue=f"Patient {name.replace('^', ' ')} agité")
    context.ConceptNameCodeSequence = Sequence(
        [_item(CodeValue="121106", CodingSchemeDesignator="DCM", CodeMeaning="Comment")]
    )
    ds.AcquisitionContextSequence = Sequence([context])
    # Original Attributes Sequence holding the name before an edit.
    original = _item(
        AttributeModificationDateTime="20190102101010",
        ModifyingSystem="PACS",
        ReasonForTheAttributeModification="CORRECT",
    )
    original.ModifiedAttributesSequence = Sequence([_item(PatientName=OLD_NAME)])
    ds.OriginalAttributesSequence = Sequence([original])
    # A physician's name inside Protocol Name and Study Description.
    family = PHYSICIAN.split("^")[0]
    ds.ProtocolName = f"DATSCAN Dr {family}"
    ds.StudyDescription = f"DaTSCAN demandé par Dr {family}"
    ds.ReferringPhysicianName = PHYSICIAN
    # Image Comments and Additional Patient History naming the patient.
    ds.ImageComments = f"Contrôle {name.split('^')[0]} à 6 mois"
    ds.AdditionalPatientHistory = f"Tremblement, patient {name.split('^')[0]}"
    # Referenced File ID, as a DICOMDIR would hold it.
    ds.ReferencedFileID = ["PATIENTS", ds.PatientID, path.stem[:16]]


# Each place: how to read it in a dataset; a test puts the original back and expects a finding.
PLACES = {
    "name three levels deep": "(0054,0016)[0]/(0054,0300)[0]/(0008,0121)[0]/(0010,0010)",
    "other patient IDs": "(0010,1002)",
    "request attributes accession": "(0040,0275)",
    "acquisition context": "(0040,0555)",
    "original attributes": "(0400,0561)",
    "private block": "private",
    "injection date-time": "(0054,0016)[0]/(0018,1078)",
    "protocol name physician": "(0018,1030)",
    "study description physician": "(0008,1030)",
    "station name": "(0008,1010)",
    "institution name": "(0008,0080)",
    "image comments": "(0020,4000)",
    "additional patient history": "(0010,21B0)",
    "referenced file ID": "(0004,1500)",
    "media storage SOP instance UID": "meta/(0002,0003)",
}


@pytest.fixture(scope="module")
def phi_corpus(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("phi")
    export = root / "export"
    synthesize("datpark", export, exams=6, seed=21, shape=(16, 32, 32))
    for path in sorted(export.glob("exams/*/*.dcm")):
        ds = pydicom.dcmread(path)
        add_phi(ds, path)
        # the free 128 bytes before 'DICM': a vendor's note with the patient in it
        ds.preamble = f"NOTE {ds.PatientName} {ds.PatientID}".encode().ljust(128, b"\x00")
        ds.save_as(path, enforce_file_format=True)
    out = root / "data"
    summary = ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=2)
    return {"export": export, "out": out, "summary": summary}


def _pairs(corpus) -> list[tuple[Path, Path]]:
    export, staging = corpus["export"], corpus["out"] / "staging"
    pairs = []
    for folder in sorted((export / "exams").iterdir()):
        (source,) = folder.glob("*.dcm")
        pairs.append((source, staging / "dicom" / folder.name / "0001.dcm"))
    return pairs


def _get(ds: Dataset, path: str):
    """The element at a verifier-style path, and its parent dataset."""
    parent = ds.file_meta if path.startswith("meta/") else ds
    parts = path.removeprefix("meta/").split("/")
    for part in parts[:-1]:
        tag, index = part.split("[")
        parent = parent[_tag(tag)].value[int(index.rstrip("]"))]
    return parent, _tag(parts[-1])


def _tag(text: str) -> int:
    group, element = text.strip("()").split(",")
    return (int(group, 16) << 16) | int(element, 16)


def test_ingest_leaves_no_identifying_trace(phi_corpus):
    report = verify_tree(
        phi_corpus["out"] / "staging",
        IdentifyingValues.from_files(phi_corpus["export"].glob("exams/*/*.dcm")),
    )
    assert report.passed, report.counts()
    assert report.elements > 500
    for source, output in _pairs(phi_corpus):
        before = pydicom.dcmread(source)
        after_text = repr(pydicom.dcmread(output))
        for value in (
            before.PatientID,
            str(before.PatientName).split("^")[0],
            before.OtherPatientIDsSequence[0].PatientID,
            before.AccessionNumber,
            before.StationName,
            PHYSICIAN.split("^")[0],
            OLD_NAME.split("^")[0],
            before.file_meta.MediaStorageSOPInstanceUID,
            before.StudyInstanceUID,
        ):
            assert value not in after_text, value
        assert "Hôpital" not in after_text and "CHU" not in after_text


@pytest.mark.parametrize("place", sorted(PLACES))
def test_verifier_finds_each_place_when_deidentification_is_skipped(phi_corpus, place, tmp_path):
    path = PLACES[place]
    source, output = _pairs(phi_corpus)[0]
    original = pydicom.dcmread(source)
    leaked = pydicom.dcmread(output)
    if path == "private":
        for elem in original:
            if elem.tag.is_private:
                leaked.add(copy.deepcopy(elem))
    elif "[0]/" in path and not path.startswith("meta/"):
        top = path.split("[")[0]
        leaked[_tag(top)] = copy.deepcopy(original[_tag(top)])
    else:
        parent, tag = _get(original, path)
        target = leaked.file_meta if path.startswith("meta/") else leaked
        target[tag] = copy.deepcopy(parent[tag])
    folder = tmp_path / "leak"
    folder.mkdir()
    leaked.save_as(folder / "0001.dcm", enforce_file_format=False)  # keep the meta as is
    identifying = IdentifyingValues.from_files(phi_corpus["export"].glob("exams/*/*.dcm"))
    report = verify_tree(folder, identifying)
    expected = "(" if path == "private" else path.split("[")[0]
    hits = [f for f in report.findings if f.tag_path.startswith(expected)]
    assert hits, f"{place}: nothing found at {path}; findings: {report.counts()}"
    for finding in hits:
        assert str(original.PatientID) not in finding.evidence  # evidence is redacted


def test_verifier_finds_the_patient_id_in_a_file_name(phi_corpus, tmp_path):
    source, output = _pairs(phi_corpus)[0]
    folder = tmp_path / "names"
    folder.mkdir()
    shutil.copy(output, folder / source.name)  # NM_<IPP>_<date>.dcm
    identifying = IdentifyingValues.from_files(phi_corpus["export"].glob("exams/*/*.dcm"))
    report = verify_tree(folder, identifying)
    assert any(f.tag_path == "file name" for f in report.findings), report.counts()


def test_raw_export_fails_verification_in_every_category(phi_corpus):
    identifying = IdentifyingValues.from_files(phi_corpus["export"].glob("exams/*/*.dcm"))
    report = verify_tree(phi_corpus["export"] / "exams", identifying)
    for kind in (
        "person-name",
        "original-uid",
        "unshifted-date",
        "identifying-value",
        "private-tag",
        "identity-flag",
    ):
        assert report.counts().get(kind, 0) > 0, kind


def test_patient_characteristics_and_physics_are_retained(phi_corpus):
    """Negative controls: what must survive de-identification, unchanged."""
    for source, output in _pairs(phi_corpus):
        before, after = pydicom.dcmread(source), pydicom.dcmread(output)
        for keyword in (
            "PatientSex",
            "PatientAge",
            "PatientWeight",
            "PatientSize",
            "Manufacturer",
            "ManufacturerModelName",
            "Modality",
        ):
            assert after.get(keyword) == before.get(keyword), keyword
        pharma_before = before.RadiopharmaceuticalInformationSequence[0]
        pharma_after = after.RadiopharmaceuticalInformationSequence[0]
        assert pharma_after.RadionuclideTotalDose == pharma_before.RadionuclideTotalDose
        assert (
            pharma_after.RadionuclideCodeSequence[0].CodeValue
            == pharma_before.RadionuclideCodeSequence[0].CodeValue
        )
        np.testing.assert_array_equal(after.pixel_array, before.pixel_array)
        assert after.PixelData == before.PixelData

        def uptake(ds: Dataset) -> dt.timedelta:
            injected = dt.datetime.strptime(
                ds.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime[:14],
                "%Y%m%d%H%M%S",
            )
            acquired = dt.datetime.strptime(
                ds.AcquisitionDate + ds.AcquisitionTime[:6], "%Y%m%d%H%M%S"
            )
            return acquired - injected

        assert uptake(after) == uptake(before)
        assert after.AcquisitionDate != before.AcquisitionDate  # shifted, though
        assert after.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in after.DeidentificationMethodCodeSequence]
        assert codes == ["113100", "113105", "113107", "113108"]


def test_one_patient_keeps_one_pseudonym_and_one_date_shift(tmp_path):
    export = tmp_path / "export"
    synthesize("datpark", export, exams=40, seed=3, shape=(16, 32, 32))
    out = tmp_path / "data"
    ingest("datpark", export, out, options=OPTIONS, schema=SCHEMA, key=KEY, workers=2)
    shifts: dict[str, set[int]] = {}
    ids: dict[str, set[str]] = {}
    for folder in sorted((export / "exams").iterdir()):
        (source,) = folder.glob("*.dcm")
        before = pydicom.dcmread(source, stop_before_pixels=True)
        after = pydicom.dcmread(
            out / "staging" / "dicom" / folder.name / "0001.dcm", stop_before_pixels=True
        )
        delta = (
            dt.date.fromisoformat(_iso(after.StudyDate))
            - dt.date.fromisoformat(_iso(before.StudyDate))
        ).days
        shifts.setdefault(before.PatientID, set()).add(delta)
        ids.setdefault(before.PatientID, set()).add(str(after.PatientID))
    assert any(len(v) for v in ids.values())
    assert all(len(v) == 1 for v in shifts.values()), "one shift per patient"
    assert all(len(v) == 1 for v in ids.values()), "one pseudonym per patient"
    assert len({next(iter(v)) for v in shifts.values()}) > 1, "shifts differ between patients"
    followed = [p for p, v in ids.items() if len(v) == 1]
    assert followed


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def test_the_input_preamble_never_reaches_a_release(phi_corpus, tmp_path):
    pairs = _pairs(phi_corpus)
    for source, output in pairs:
        assert source.read_bytes()[:128].strip(b"\x00"), "the input carries a preamble"
        assert output.read_bytes()[:128] == b"\x00" * 128, output.name
    # and the verifier, on its own, refuses a file whose preamble is not empty
    folder = tmp_path / "leak"
    folder.mkdir()
    data = bytearray(pairs[0][1].read_bytes())
    data[:128] = pairs[0][0].read_bytes()[:128]
    (folder / "0001.dcm").write_bytes(bytes(data))
    report = verify_tree(folder, IdentifyingValues())
    assert [f.kind for f in report.findings] == ["preamble"]
    assert "not zero" in report.findings[0].evidence
