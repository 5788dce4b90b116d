"""Generated CT-like test instances, cached on disk and handed out under per-run UIDs.

Every cached file carries UIDs built on a placeholder tag.  ``instances()`` pairs a file with a
new tag of the same length, and ``Instance.read()`` swaps the tag into the bytes, so each
server and each run gets fresh UIDs without regenerating or re-parsing anything.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_ROOT_UID, CTImageStorage, ExplicitVRLittleEndian

INSTANCES_PER_STUDY = 50
ROWS = COLUMNS = 512
CACHE_FORMAT = "1"
PLACEHOLDER_TAG = 100000
LAST_TAG = 999999
UID_KIND = {"study": 1, "series": 2, "instance": 3, "frame": 4}


def make_uid(tag: int, kind: str, study: int, index: int = 0) -> str:
    """A UID under pydicom's root whose run tag always has six digits, so swapping it keeps the length."""
    return f"{PYDICOM_ROOT_UID}{tag}.{UID_KIND[kind]}.{study + 1}.{index + 1}"


def tag_bytes(tag: int) -> bytes:
    """The byte string that identifies a run tag inside the UIDs of a file."""
    return f"{PYDICOM_ROOT_UID}{tag}.".encode("ascii")


@dataclass(frozen=True)
class Instance:
    """One cached file as it is sent under a given run tag."""

    path: Path
    tag: int
    study_uid: str
    series_uid: str
    sop_uid: str
    size: int

    def read(self) -> bytes:
        """The file's bytes with the placeholder UIDs replaced by this instance's run tag."""
        return self.path.read_bytes().replace(tag_bytes(PLACEHOLDER_TAG), tag_bytes(self.tag))


def cached_path(data_dir: Path, study: int, index: int) -> Path:
    """Where the cache keeps instance ``index`` of study ``study``."""
    return data_dir / f"study{study + 1:03d}" / f"instance{index + 1:03d}.dcm"


def study_count(count: int) -> int:
    """How many studies hold ``count`` instances."""
    return -(-count // INSTANCES_PER_STUDY)


def ensure_cache(data_dir: Path, count: int) -> None:
    """Generate whatever part of the first ``count`` instances the cache lacks."""
    version_file = data_dir / "FORMAT"
    if not version_file.exists() or version_file.read_text().strip() != CACHE_FORMAT:
        for old in data_dir.glob("study*/instance*.dcm"):
            old.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    version_file.write_text(CACHE_FORMAT + "\n")
    for number in range(count):
        study, index = divmod(number, INSTANCES_PER_STUDY)
        path = cached_path(data_dir, study, index)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_instance(path, study, index)


def instances(data_dir: Path, count: int, tag: int) -> list[Instance]:
    """The first ``count`` cached instances as sent under run tag ``tag``."""
    if not PLACEHOLDER_TAG < tag <= LAST_TAG:
        raise ValueError(f"run tag {tag} out of range")
    result = []
    for number in range(count):
        study, index = divmod(number, INSTANCES_PER_STUDY)
        path = cached_path(data_dir, study, index)
        result.append(
            Instance(
                path=path,
                tag=tag,
                study_uid=make_uid(tag, "study", study),
                series_uid=make_uid(tag, "series", study),
                sop_uid=make_uid(tag, "instance", study, index),
                size=path.stat().st_size,
            )
        )
    return result


def write_instance(path: Path, study: int, index: int) -> None:
    """Write one CT slice of ``study`` with the placeholder run tag."""
    dataset = ct_header(study, index)
    dataset.PixelData = ct_pixels(study, index).tobytes()
    partial = path.with_suffix(".partial")
    dataset.save_as(partial, enforce_file_format=True)
    partial.replace(path)


def ct_pixels(study: int, index: int) -> np.ndarray:
    """A 512x512 signed 16-bit slice in Hounsfield units: air, a body ellipse, bone and noise."""
    rng = np.random.default_rng(study * 1000 + index)
    y, x = np.ogrid[-1 : 1 : ROWS * 1j, -1 : 1 : COLUMNS * 1j]
    image = np.full((ROWS, COLUMNS), -1000.0)
    image[(x / 0.85) ** 2 + (y / 0.65) ** 2 <= 1] = 40.0
    image[(x / 0.85) ** 2 + (y / 0.65) ** 2 <= 0.3] = -850.0 + 30 * (index % 7)
    spine_y = 0.45 + 0.002 * index
    image[(x / 0.1) ** 2 + ((y - spine_y) / 0.1) ** 2 <= 1] = 700.0
    image += rng.normal(0.0, 12.0, image.shape)
    return np.clip(image, -1024, 3071).astype("<i2")


def ct_header(study: int, index: int) -> Dataset:
    """About 100 header elements of a CT slice: patient, study, series, equipment, image and pixel modules."""
    tag = PLACEHOLDER_TAG
    when = datetime.datetime(2024, 1, 1, 8, 0) + datetime.timedelta(days=study, seconds=index)
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds = Dataset()
    ds.file_meta = file_meta(make_uid(tag, "instance", study, index))
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = make_uid(tag, "instance", study, index)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = time
    ds.AccessionNumber = f"ACC{study + 1:06d}"
    ds.Modality = "CT"
    ds.Manufacturer = "Bench Medical Systems"
    ds.InstitutionName = "Bench General Hospital"
    ds.InstitutionAddress = "1 Loopback Road, Localhost"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.StationName = "CT-BENCH-01"
    ds.StudyDescription = "CT CHEST WITH CONTRAST"
    ds.SeriesDescription = "Axial 1.0 mm soft tissue"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PhysiciansOfRecord = "Physician^Paul"
    ds.OperatorsName = "Operator^Olga"
    ds.ManufacturerModelName = "Bench CT 64"
    ds.PatientName = f"Bench^Patient{study + 1:03d}"
    ds.PatientID = f"PAT{study + 1:06d}"
    ds.IssuerOfPatientID = "BENCH"
    ds.PatientBirthDate = f"{1950 + study % 50}0615"
    ds.PatientSex = "FM"[study % 2]
    ds.PatientAge = f"{74 - study % 50:03d}Y"
    ds.PatientSize = "1.72"
    ds.PatientWeight = "71.5"
    ds.EthnicGroup = "Unknown"
    ds.PatientComments = "Generated for benchmarking"
    ds.ContrastBolusAgent = "Iodinated contrast"
    ds.ContrastBolusRoute = "IV"
    ds.BodyPartExamined = "CHEST"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500.0"
    ds.DeviceSerialNumber = "SN-0001"
    ds.SoftwareVersions = "bench-1.0"
    ds.ProtocolName = "CHEST_CONTRAST"
    ds.ReconstructionDiameter = "380.0"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595.0"
    ds.GantryDetectorTilt = "0.0"
    ds.TableHeight = "160.0"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "250"
    ds.Exposure = "125"
    ds.FilterType = "BODY FILTER"
    ds.GeneratorPower = "30"
    ds.FocalSpots = "1.2"
    ds.ConvolutionKernel = "STANDARD"
    ds.PatientPosition = "FFS"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.625
    ds.TotalCollimationWidth = 40.0
    ds.TableSpeed = 78.75
    ds.TableFeedPerRotation = 39.375
    ds.SpiralPitchFactor = 0.984
    ds.DataCollectionCenterPatient = [0.0, -160.0, -float(index)]
    ds.ReconstructionTargetCenterPatient = [0.0, -160.0, -float(index)]
    ds.CTDIvol = 12.4
    ds.StudyInstanceUID = make_uid(tag, "study", study)
    ds.SeriesInstanceUID = make_uid(tag, "series", study)
    ds.StudyID = f"{study + 1}"
    ds.SeriesNumber = 2
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = index + 1
    ds.ImagePositionPatient = ["-190.0", "-350.0", f"{-index:.1f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = make_uid(tag, "frame", study)
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{-index:.1f}"
    ds.ImageComments = f"Slice {index + 1} of {INSTANCES_PER_STUDY}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ROWS, COLUMNS
    ds.PixelSpacing = ["0.742188", "0.742188"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SmallestImagePixelValue = -1024
    ds.LargestImagePixelValue = 3071
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1500"]
    ds.WindowCenterWidthExplanation = ["SOFT TISSUE", "LUNG"]
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.LossyImageCompression = "00"
    ds.PerformedProcedureStepStartDate = date
    ds.PerformedProcedureStepStartTime = time
    ds.PerformedProcedureStepID = f"PPS{study + 1:04d}"
    ds.PerformedProcedureStepDescription = "CT chest with contrast"
    ds.RequestedProcedureDescription = "CT CHEST"
    return ds


def file_meta(sop_uid: str) -> FileMetaDataset:
    """The file meta group of an Explicit VR Little Endian CT file."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta
