"""Transcoding a Part 10 file to Explicit VR Little Endian from the uncompressed syntaxes."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

UNCOMPRESSED_SOURCES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)
_WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


class TranscodeError(ValueError):
    """The file cannot be converted to the requested transfer syntax."""


def to_explicit_vr_little_endian(data: bytes) -> bytes:
    """The Part 10 file ``data`` re-encoded as Explicit VR Little Endian, pixel values unchanged.

    Raises TranscodeError for compressed sources and for files that cannot be parsed.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        source = ds.file_meta.TransferSyntaxUID
    except Exception as exc:
        raise TranscodeError(f"The file cannot be parsed: {exc}") from exc
    if source not in UNCOMPRESSED_SOURCES:
        raise TranscodeError(f"Transcoding from {source} is not supported.")
    if source == ExplicitVRLittleEndian:
        return data
    try:
        if source == ExplicitVRBigEndian:
            _swap_words(ds, ds.get("BitsAllocated", 16))
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        out = io.BytesIO()
        pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    except Exception as exc:  # a file pydicom reads but cannot write in the new syntax
        raise TranscodeError(f"The file cannot be re-encoded: {exc}") from exc
    return out.getvalue()


def _swap_words(ds: Dataset, bits_allocated: int) -> None:
    """Turns big-endian binary values (OW, OF, OL, OD, OV) into little endian, in place."""
    for element in ds.iterall():
        if element.VR not in _WORD_SIZES or not isinstance(element.value, bytes):
            continue
        width = _WORD_SIZES[element.VR]
        if element.tag == 0x7FE00010 and bits_allocated > 8:
            width = bits_allocated // 8
        usable = len(element.value) - len(element.value) % width
        swapped = np.frombuffer(element.value[:usable], dtype=f">u{width}").astype(f"<u{width}").tobytes()
        element.value = swapped + element.value[usable:]
