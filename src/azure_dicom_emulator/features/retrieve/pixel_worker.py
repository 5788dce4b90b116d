"""The start of a pixel worker process: its allocator set, and the pixel code loaded before its first job.
Imports nothing at module level: the server names ``prepare`` without loading what a pixel worker needs."""

from __future__ import annotations


def prepare() -> None:
    """Keeps freed memory for the next frame, then decodes and renders a one-pixel image once, so that numpy,
    Pillow, pydicom's pixel backends and the image encoders are loaded before the first real job."""
    from pydicom.dataset import Dataset
    from pydicom.uid import ExplicitVRLittleEndian

    from ...dicom.render import JPEG, PNG, render
    from ...dicom.transcode import decode_frame
    from ...runtime import allocator

    allocator.keep_freed_memory()
    header = Dataset()
    header.Rows = header.Columns = header.SamplesPerPixel = 1
    header.BitsAllocated, header.BitsStored, header.HighBit = 16, 12, 11
    header.PixelRepresentation = 0
    header.PhotometricInterpretation = "MONOCHROME2"
    pixels, description = decode_frame(header, b"\x00\x00", ExplicitVRLittleEndian, "OW")
    for media_type in (JPEG, PNG):
        render(header, pixels, description, media_type, 90)
