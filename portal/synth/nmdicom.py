"""Write one exam as an NM Image IOD multi-frame file, as a hospital PACS exports it.

The header is deliberately full of identifying data in every place hospitals
put it: patient module, study and series descriptions, request attributes,
other patient IDs, the radiopharmaceutical sequence's injection date-time,
free-text comments and history, equipment and institution strings, and a
vendor private block that copies the patient's name, ID and birth date.
The file is valid for the NM Image IOD as judged by ``dciodvfy``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, NuclearMedicineImageStorage

from portal import __version__
from portal.synth.cohort import Exam, uid
from portal.synth.phantom import Geometry

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.10.1462.1"
#: The vendor-quantification software whose reports fill the clinical metadata.
ENERGY_WINDOW_KEV = (143.1, 174.9)  # 159 keV photopeak of iodine-123, +/- 10 %


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _da(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _tm(moment: dt.datetime) -> str:
    return moment.strftime("%H%M%S")


def file_name(exam: Exam) -> str:
    """How the hospital named the file: IPP and acquisition date, as PACS exports do."""
    return f"NM_{exam.patient.hospital_id}_{exam.acquired:%Y%m%d}.dcm"


def _uids(exam: Exam) -> dict[str, str]:
    root = exam.centre.uid_root
    key = exam.seed_key
    return {
        "study": uid(root, key, "study"),
        "series": uid(root, key, "series"),
        "sop": uid(root, key, "sop"),
        "frame": uid(root, key, "frame-of-reference"),
    }


def _private_block(ds: Dataset, exam: Exam, total_counts: int) -> None:
    """Vendor private tags; several copy identifiers, as real ones do."""
    person = exam.patient.person
    centre = exam.centre
    block = ds.private_block(centre.private.group, centre.private.creator, create=True)
    vendor = centre.manufacturer.split()[0].upper()
    if vendor == "SIEMENS":
        block.add_new(0xA0, "LO", f"{person.family.upper()}^{person.given}")
        block.add_new(0xA1, "LO", f"DATSCAN_{exam.patient.hospital_id}_{_da(exam.acquired)}")
        block.add_new(0xA2, "DA", _da(person.birth_date))
        block.add_new(0xA3, "DS", f"{total_counts}")
    elif vendor == "GE":
        block.add_new(0xA0, "LO", f"{person.family.upper()} {person.given} {_da(exam.acquired)}")
        block.add_new(0xA1, "LO", exam.patient.hospital_id)
        block.add_new(0xA2, "DA", _da(person.birth_date))
        block.add_new(0xA3, "DS", "1.0")
    elif vendor == "PHILIPS":
        block.add_new(0xA0, "LO", f"{person.family.upper()},{person.given}")
        block.add_new(0xA1, "SH", exam.patient.hospital_id)
        block.add_new(0xA2, "DA", _da(exam.injected))
        block.add_new(0xA3, "DS", f"{centre.value_scale}")
    else:
        block.add_new(0xA0, "LO", f"{person.family.upper()} {person.given}")
        block.add_new(0xA1, "LO", exam.accession)
        block.add_new(0xA2, "DA", _da(person.birth_date))
        block.add_new(0xA3, "LO", centre.recon)


def build_dataset(exam: Exam, volume: np.ndarray, geometry: Geometry) -> Dataset:
    """The full NM multi-frame dataset for one exam, pixel data included."""
    centre, patient, person = exam.centre, exam.patient, exam.patient.person
    uids = _uids(exam)
    slices, rows, cols = volume.shape
    acquired = exam.acquired
    study_time = acquired - dt.timedelta(minutes=5)
    content = acquired + dt.timedelta(minutes=int(exam.index % 17) + 25)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = NuclearMedicineImageStorage
    meta.MediaStorageSOPInstanceUID = uids["sop"]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = f"DPKSYNTH_{__version__}"[:16]
    meta.SourceApplicationEntityTitle = centre.ae_title

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.InstanceCreationDate = _da(content)
    ds.InstanceCreationTime = _tm(content)
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SOPInstanceUID = uids["sop"]
    ds.StudyDate = _da(study_time)
    ds.SeriesDate = _da(acquired)
    ds.AcquisitionDate = _da(acquired)
    ds.ContentDate = _da(content)
    ds.StudyTime = _tm(study_time)
    ds.SeriesTime = _tm(acquired)
    ds.AcquisitionTime = _tm(acquired)
    ds.ContentTime = _tm(content)
    ds.AccessionNumber = exam.accession
    ds.Modality = "NM"
    ds.Manufacturer = centre.manufacturer
    ds.InstitutionName = centre.institution
    ds.InstitutionAddress = centre.address
    ds.ReferringPhysicianName = exam.referring
    ds.StationName = centre.station
    ds.StudyDescription = exam.texts["study"]
    ds.SeriesDescription = exam.texts["series"]
    ds.InstitutionalDepartmentName = centre.department
    ds.PhysiciansOfRecord = exam.referring
    ds.PerformingPhysicianName = exam.performing
    ds.NameOfPhysiciansReadingStudy = exam.reading
    ds.OperatorsName = exam.operator
    ds.ManufacturerModelName = centre.model

    ds.PatientName = person.dicom_name
    ds.PatientID = patient.hospital_id
    ds.IssuerOfPatientID = centre.institution.split(" - ")[0]
    ds.PatientBirthDate = _da(person.birth_date)
    ds.PatientSex = person.sex
    other = Dataset()
    other.PatientID = person.nir
    other.IssuerOfPatientID = "INS-NIR"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    if person.birth_name != person.family:
        ds.PatientBirthName = f"{person.birth_name.upper()}^{person.given}"
    ds.PatientAge = f"{exam.age:03d}Y"
    ds.PatientSize = f"{exam.height_m:.2f}"
    ds.PatientWeight = f"{exam.weight_kg}"
    ds.PatientAddress = person.address
    ds.PatientTelephoneNumbers = person.phone
    ds.AdditionalPatientHistory = exam.texts["history"]

    ds.BodyPartExamined = "HEAD"
    ds.SliceThickness = f"{geometry.slice_mm:g}"
    ds.SpacingBetweenSlices = f"{geometry.slice_mm:g}"
    ds.DeviceSerialNumber = centre.serial
    ds.SoftwareVersions = centre.software
    ds.ProtocolName = exam.texts["protocol"]
    ds.ReconstructionDiameter = f"{cols * geometry.spacing_mm:.1f}"
    ds.ConvolutionKernel = centre.recon.split()[-1][:16]

    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.StudyID = exam.study_id
    ds.SeriesNumber = exam.series_number
    ds.InstanceNumber = 1
    ds.FrameOfReferenceUID = uids["frame"]
    ds.PositionReferenceIndicator = ""
    ds.ImageComments = exam.texts["comments"]

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = slices
    ds.FrameIncrementPointer = 0x00540080  # Slice Vector
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = [f"{geometry.spacing_mm:g}", f"{geometry.spacing_mm:g}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"

    total_counts = int(volume.sum(dtype=np.int64) / centre.value_scale)
    ds.CountsAccumulated = total_counts
    corrections = ["UNIF", "COR", "DECY"] + (["ATTN"] if centre.attenuation != "none" else [])
    ds.CorrectedImage = corrections

    ds.RequestAttributesSequence = Sequence([_request_item(exam)])
    ds.PerformedProcedureStepStartDate = _da(acquired)
    ds.PerformedProcedureStepStartTime = _tm(acquired)
    ds.PerformedProcedureStepID = f"PPS{exam.study_id}"
    ds.PerformedProcedureStepDescription = exam.texts["study"]

    window = Dataset()
    limits = Dataset()
    limits.EnergyWindowLowerLimit = f"{ENERGY_WINDOW_KEV[0]}"
    limits.EnergyWindowUpperLimit = f"{ENERGY_WINDOW_KEV[1]}"
    window.EnergyWindowRangeSequence = Sequence([limits])
    window.EnergyWindowName = "I123 159keV"
    ds.EnergyWindowInformationSequence = Sequence([window])
    ds.NumberOfEnergyWindows = 1

    pharma = Dataset()
    pharma.RadiopharmaceuticalRoute = "Intravenous"
    pharma.RadiopharmaceuticalStartTime = _tm(exam.injected)
    pharma.RadiopharmaceuticalStartDateTime = exam.injected.strftime("%Y%m%d%H%M%S")
    pharma.RadionuclideTotalDose = f"{exam.dose_mbq:.1f}"
    pharma.Radiopharmaceutical = "Ioflupane (123I) DaTSCAN"
    pharma.RadionuclideCodeSequence = Sequence([_code("21572004", "SCT", "^123^Iodine")])
    ds.RadiopharmaceuticalInformationSequence = Sequence([pharma])

    detector = Dataset()
    detector.CollimatorGridName = centre.collimator
    detector.CollimatorType = "PARA"
    detector.FieldOfViewShape = "RECTANGLE"
    detector.FieldOfViewDimensions = [533, 387]
    detector.FocalDistance = None
    detector.XFocusCenter = None
    detector.YFocusCenter = None
    detector.ZoomFactor = ["1.0", "1.0"]
    nz, ny, nx = volume.shape
    origin = [
        -(nx - 1) / 2 * geometry.spacing_mm,
        -(ny - 1) / 2 * geometry.spacing_mm,
        -(nz - 1) / 2 * geometry.slice_mm,
    ]
    detector.ImagePositionPatient = [f"{v:.3f}" for v in origin]
    detector.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.DetectorInformationSequence = Sequence([detector])
    ds.NumberOfDetectors = 1

    rotation = Dataset()
    rotation.StartAngle = "0"
    rotation.AngularStep = "3"
    rotation.RotationDirection = "CW"
    rotation.ScanArc = "180"
    rotation.ActualFrameDuration = 30000
    rotation.NumberOfFramesInRotation = 60
    rotation.RadialPosition = ["140"] * 60
    ds.RotationInformationSequence = Sequence([rotation])
    ds.NumberOfRotations = 1
    ds.TypeOfDetectorMotion = "STEP AND SHOOT"

    ds.SliceVector = list(range(1, slices + 1))
    ds.NumberOfSlices = slices
    ds.PatientOrientationCodeSequence = Sequence([_code("102538003", "SCT", "recumbent")])
    ds.PatientOrientationCodeSequence[0].PatientOrientationModifierCodeSequence = Sequence(
        [_code("40199007", "SCT", "supine")]
    )
    ds.PatientGantryRelationshipCodeSequence = Sequence([_code("102540008", "SCT", "headfirst")])

    _private_block(ds, exam, total_counts)
    ds.PixelData = np.ascontiguousarray(volume, dtype="<u2").tobytes()
    return ds


def _request_item(exam: Exam) -> Dataset:
    item = Dataset()
    item.AccessionNumber = exam.accession
    item.RequestedProcedureID = f"RP{exam.accession[-7:]}"
    item.ScheduledProcedureStepID = f"SPS{exam.accession[-7:]}"
    item.ScheduledProcedureStepDescription = exam.texts["study"]
    item.RequestedProcedureDescription = "Scintigraphie cérébrale DaTSCAN"
    return item
