"""Pixel-bearing test files: the sample files of the pydicom wheel and generated ones, and their frames
as pydicom reads them."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pydicom
import pydicom.data
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import pack_bits
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from harness.factories import make_dataset, to_bytes

SAMPLES_DIR = os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm"))


def _pixel_samples() -> list[str]:
    """Every Part 10 file in the pydicom wheel with pixel data and a transfer syntax, by relative path."""
    found = []
    for root, _, files in os.walk(SAMPLES_DIR):
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as fp:
                if fp.read(132)[128:] != b"DICM":
                    continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ds = pydicom.dcmread(path)
            except Exception:
                continue
            if "PixelData" in ds and ds.file_meta.get("TransferSyntaxUID"):
                found.append(os.path.relpath(path, SAMPLES_DIR).replace(os.sep, "/"))
    return sorted(found)


PIXEL_SAMPLES = _pixel_samples()


def sample_bytes(name: str) -> bytes:
    """The bytes of a sample file."""
    with open(os.path.join(SAMPLES_DIR, name), "rb") as fp:
        return fp.read()


def read(data: bytes) -> Dataset:
    """The dataset of a Part 10 file, warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


def frame_count(ds: Dataset) -> int:
    """NumberOfFrames, 1 when absent."""
    return int(ds.get("NumberOfFrames") or 1)


def expected_frames(ds: Dataset) -> list[bytes]:
    """Each frame's bytes as stored: its fragments joined (encapsulated), or its slice of the value (native).

    1-bit frames that start inside a byte are re-packed to start on a byte boundary; frames of 8-bit
    pixels in big endian OW (byte pairs swapped) are whole 16-bit words.
    """
    count = frame_count(ds)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return list(generate_frames(ds.PixelData, number_of_frames=count))
    pixels = ds.PixelData
    samples = 2 if ds.get("PhotometricInterpretation") == "YBR_FULL_422" else int(ds.get("SamplesPerPixel", 1))
    bits = ds.Rows * ds.Columns * samples * ds.BitsAllocated
    if bits % 8 == 0:
        ranges = [(i * bits // 8, (i + 1) * bits // 8) for i in range(count)]
        if ds.file_meta.TransferSyntaxUID == ExplicitVRBigEndian and ds["PixelData"].VR == "OW":
            ranges = [(start - start % 2, min(len(pixels), end + end % 2)) for start, end in ranges]
        return [pixels[start:end] for start, end in ranges]
    unpacked = np.unpackbits(np.frombuffer(pixels, np.uint8), bitorder="little")
    return [pack_bits(unpacked[i * bits : (i + 1) * bits]) for i in range(count)]


def pixel_frames(ds: Dataset) -> list[np.ndarray]:
    """pydicom's pixel_array of each frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        array = ds.pixel_array
    return list(array) if frame_count(ds) > 1 else [array]


def _one_bit(rows: int, columns: int, frames: int) -> bytes:
    ds = make_dataset(rows=rows, columns=columns, BitsAllocated=1, BitsStored=1, HighBit=0)
    ds.NumberOfFrames = frames
    bits = (np.arange(rows * columns * frames) * 7 % 3 == 0).astype(np.uint8)
    ds.PixelData = pack_bits(bits)
    return to_bytes(ds)


def _planar_rgb() -> bytes:
    ds = make_dataset(rows=4, columns=5, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 1
    ds.NumberOfFrames = 2
    ds.PixelData = bytes(range(120))
    return to_bytes(ds)


def _native_multiframe(transfer_syntax: str) -> bytes:
    ds = make_dataset(rows=6, columns=7, transfer_syntax=transfer_syntax)
    ds.NumberOfFrames = 4
    ds.PixelData = (
        (np.arange(6 * 7 * 4, dtype="<u2") * 97)
        .astype(">u2" if transfer_syntax == ExplicitVRBigEndian else "<u2")
        .tobytes()
    )
    if transfer_syntax == ExplicitVRBigEndian:
        ds["PixelData"].VR = "OW"
    return to_bytes(ds)


def _encapsulated(kind: str) -> bytes:
    """A 3-frame RLE instance: fragments split and tables as ``kind`` says."""
    source = make_dataset(rows=5, columns=6)
    source.NumberOfFrames = 3
    source.PixelData = (np.arange(90, dtype="<u2") * 331 % 4096).tobytes()
    source.compress(RLELossless, generate_instance_uid=False)
    frames = list(generate_frames(source.PixelData, number_of_frames=3))
    ds = source
    if kind == "basic-offset-table":
        ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=True)
    elif kind == "extended-offset-table":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    elif kind == "one-fragment-each":
        ds.PixelData = encapsulate(frames, fragments_per_frame=1, has_bot=False)
    ds["PixelData"].VR = "OB"
    return to_bytes(ds)


def _jpeg2000_split_fragments() -> bytes:
    """Two JPEG 2000 frames of three fragments each, without offset tables: found by their start markers."""
    source = make_dataset(rows=32, columns=32, BitsStored=12, HighBit=11)
    source.NumberOfFrames = 2
    source.PixelData = (np.arange(2048, dtype="<u2") * 13 % 4096).tobytes()
    source.compress(JPEG2000Lossless, generate_instance_uid=False)
    frames = list(generate_frames(source.PixelData, number_of_frames=2))
    source.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=False)
    source["PixelData"].VR = "OB"
    return to_bytes(source)


def generated_files() -> dict[str, bytes]:
    """Generated pixel-bearing files covering what the samples do not."""
    return {
        "one-bit-unaligned": _one_bit(3, 5, 3),
        "one-bit-aligned": _one_bit(4, 8, 2),
        "planar-rgb": _planar_rgb(),
        "multiframe-explicit": _native_multiframe(ExplicitVRLittleEndian),
        "multiframe-big-endian": _native_multiframe(ExplicitVRBigEndian),
        "multiframe-deflated": _native_multiframe(DeflatedExplicitVRLittleEndian),
        "rle-basic-offset-table": _encapsulated("basic-offset-table"),
        "rle-extended-offset-table": _encapsulated("extended-offset-table"),
        "rle-one-fragment-each": _encapsulated("one-fragment-each"),
        "jpeg2000-split-fragments": _jpeg2000_split_fragments(),
    }


GENERATED = generated_files()
