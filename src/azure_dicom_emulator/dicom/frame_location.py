"""Locating the frames of a Part 10 file: its frame index, from the file's bytes and parsed header."""

from __future__ import annotations

import json
import mmap

import pydicom
from pydicom.uid import DeflatedExplicitVRLittleEndian

from .dicom_json import dataset_to_dicom_json
from .frames import NO_FRAMES, FrameIndex, index_frames, native_frames
from .part10 import Part10Header


def frame_index_of(
    path: str, view: bytes | mmap.mmap, header: Part10Header, metadata: dict | None = None
) -> FrameIndex:
    """The frame index of the stored file at ``path``, whose bytes are ``view`` and whose header is ``header``.

    A deflated file is inflated to find its pixel data; offsets are then into that pixel data's value.
    The index also describes the pixels, so that decoding and rendering need not read the header again;
    ``metadata`` is the header's DICOM JSON, when the caller has built it already.
    """
    if metadata is None:
        metadata = json.loads(dataset_to_dicom_json(header.dataset))
    return _locate_frames(path, view, header).with_pixels(header.dataset, metadata)


def _locate_frames(path: str, view: bytes | mmap.mmap, header: Part10Header) -> FrameIndex:
    if header.dataset.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        try:
            ds = pydicom.dcmread(path)
            pixels = ds.get("PixelData")
            if not isinstance(pixels, bytes):
                return NO_FRAMES
            return native_frames(ds, 0, len(pixels), pixel_vr=ds["PixelData"].VR, inflated=True)
        except Exception:  # untrusted bytes: frames that cannot be located are no frames
            return NO_FRAMES
    return index_frames(header.dataset, view, header.pixel_data)
