"""Generated DICOM test data: Part 10 files built with pydicom."""

from __future__ import annotations

import io
import struct

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def make_dataset(
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    rows: int = 8,
    columns: int = 8,
    transfer_syntax: str = ExplicitVRLittleEndian,
    **attributes,
) -> Dataset:
    """A small CT-like instance with 16-bit pixels; keyword arguments set further attributes."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = CTImageStorage
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientID = "PID-1"
    ds.PatientName = "Doe^John"
    ds.StudyDate = "20240102"
    ds.Modality = "CT"
    ds.AccessionNumber = "ACC1"
    ds.Rows = rows
    ds.Columns = columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = (np.arange(rows * columns, dtype="<u2") % 4096).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def to_bytes(ds: Dataset, preamble: bytes | None = None) -> bytes:
    """``ds`` as a Part 10 file, encoded in its file meta transfer syntax."""
    out = io.BytesIO()
    ts = ds.file_meta.TransferSyntaxUID
    if preamble is not None:
        ds.preamble = preamble
    ds.save_as(out, implicit_vr=ts.is_implicit_VR, little_endian=ts.is_little_endian, enforce_file_format=True)
    return out.getvalue()


def multipart(
    parts: list[bytes], boundary: str = "test-boundary", content_type: str | None = "application/dicom"
) -> bytes:
    """A multipart/related body holding ``parts``."""
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode()
        if content_type is not None:
            out += f"Content-Type: {content_type}\r\n".encode()
        out += b"\r\n" + part + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def in_two_halves(body: bytes, boundary: str = "test-boundary") -> tuple[bytes, bytes]:
    """A multipart body cut just after the headers of its second part: the first part is whole in the first half."""
    second = body.index(f"--{boundary}\r\n".encode(), 1)
    cut = body.index(b"\r\n\r\n", second) + 4
    return body[:cut], body[cut:]


_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def with_meta_transfer_syntax(data: bytes, value: bytes) -> bytes:
    """The Part 10 file ``data`` with the value of its (0002,0010) Transfer Syntax UID replaced by ``value``
    (padded to an even length), the file meta group length fixed; the data set is left as it is."""
    value += b"\0" * (len(value) % 2)
    out = bytearray(data[:132])
    position = 132
    while position + 2 <= len(data) and struct.unpack_from("<H", data, position)[0] == 2:
        element = struct.unpack_from("<H", data, position + 2)[0]
        if data[position + 4 : position + 6] in _LONG_LENGTH_VRS:
            header_length, length = 12, struct.unpack_from("<I", data, position + 8)[0]
        else:
            header_length, length = 8, struct.unpack_from("<H", data, position + 6)[0]
        header = data[position : position + header_length]
        old = data[position + header_length : position + header_length + length]
        if element == 0x0010:
            header, old = header[:6] + struct.pack("<H", len(value)), value
        out += header + old
        position += header_length + length
    struct.pack_into("<I", out, 132 + 8, len(out) - 132 - 12)  # the elements after the group length's own 12 bytes
    return bytes(out + data[position:])
