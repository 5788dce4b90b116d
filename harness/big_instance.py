"""Multi-frame instances of any size, written without ever holding their pixel data in memory."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

ROWS = COLUMNS = 512
FRAME_BYTES = ROWS * COLUMNS * 2
_PIXEL_DATA_OW = struct.pack("<HH2sH", 0x7FE0, 0x0010, b"OW", 0)
"""Pixel Data's tag, VR and reserved bytes in Explicit VR Little Endian; its 4-byte length follows."""


def write_big_instance(path: Path, frames: int) -> tuple[Dataset, str]:
    """Writes a CT instance of ``frames`` 512x512 16-bit frames (0.5 MB each) to ``path``; returns its header
    and the SHA-256 of the whole file. Frame ``n`` (from 1) holds the 16-bit value ``n`` in every pixel."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = CTImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID, ds.PatientName, ds.Modality = "BIG-1", "Big^Instance", "CT"
    ds.Rows, ds.Columns, ds.NumberOfFrames = ROWS, COLUMNS, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.save_as(path, enforce_file_format=True)
    digest = hashlib.sha256(path.read_bytes())
    with open(path, "ab") as out:
        element = _PIXEL_DATA_OW + struct.pack("<I", frames * FRAME_BYTES)
        out.write(element)
        digest.update(element)
        for number in range(1, frames + 1):
            frame = struct.pack("<H", number % 65536) * (ROWS * COLUMNS)
            out.write(frame)
            digest.update(frame)
    return ds, digest.hexdigest()


def frame_bytes(number: int) -> bytes:
    """The stored bytes of frame ``number`` of an instance written by :func:`write_big_instance`."""
    return struct.pack("<H", number % 65536) * (ROWS * COLUMNS)
