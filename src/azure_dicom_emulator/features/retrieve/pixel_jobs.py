"""Small jobs for the CPU worker processes. Imports only pure DICOM code, so it loads in the workers that
leave out the pixel libraries (``Services.cpu_pool``); the jobs that decode pixels (transcode_file,
transcode_frames, render_frame) import the codecs and Pillow when called and must run in
``Services.pixel_pool``."""

from __future__ import annotations

import functools

import pydicom
from pydicom.dataset import Dataset

from ...dicom.frames import header_of, load_index, read_frame
from ...storage.blobs import RangeReader


def transcode_file(path: str, target: str) -> bytes:
    """The Part 10 file at ``path`` re-encoded in ``target`` (see dicom.transcode)."""
    from ...dicom.transcode import transcode

    with open(path, "rb") as fp:
        return transcode(fp.read(), target)


def index_file(path: str) -> str:
    """The frame index of the Part 10 file at ``path``, as JSON (for rows stored before frames were indexed)."""
    from ...dicom.frame_location import frame_index_of
    from ...dicom.part10 import file_view, read_header

    with open(path, "rb") as fp, file_view(fp) as view:
        return frame_index_of(path, view, read_header(fp, view)).to_json()


def stored_frames(path: str, index_json: str, numbers: list[int]) -> list[bytes]:
    """The frames ``numbers`` of the file as stored; for a deflated file, from its inflated pixel data."""
    index = load_index(index_json)
    if index.inflated:
        value = pydicom.dcmread(path).PixelData
        return [read_frame(index, number, lambda offset, length: value[offset : offset + length]) for number in numbers]
    with RangeReader(path) as read:
        return [read_frame(index, number, read) for number in numbers]


def transcode_frames(path: str, index_json: str, numbers: list[int], source: str, target: str) -> list[bytes]:
    """The frames ``numbers`` of the file, each re-encoded from ``source`` to ``target`` (see dicom.transcode)."""
    from ...dicom.transcode import transcode_frame

    index = load_index(index_json)
    header = _header(path, index_json)
    frames = stored_frames(path, index_json, numbers)
    return [transcode_frame(header, frame, source, target, index.pixel_vr) for frame in frames]


def render_frame(path: str, index_json: str, number: int, source: str, media_type: str, quality: int) -> bytes:
    """Frame ``number`` of the file rendered as a ``media_type`` image (see dicom.render)."""
    from ...dicom.render import render
    from ...dicom.transcode import decode_frame

    index = load_index(index_json)
    header = _header(path, index_json)
    (frame,) = stored_frames(path, index_json, [number])
    pixels, description = decode_frame(header, frame, source, index.pixel_vr)
    return render(header, pixels, description, media_type, quality)


def _header(path: str, index_json: str) -> Dataset:
    """The pixel attributes the index describes, else the file's header; only to be read, never changed."""
    header = _described_header(index_json)
    return header if header is not None else pydicom.dcmread(path, stop_before_pixels=True)


@functools.lru_cache(maxsize=256)
def _described_header(index_json: str) -> Dataset | None:
    """The data set of the index's pixel description (shared by its callers), None when it has none."""
    pixels = load_index(index_json).pixels
    return None if pixels is None else header_of(pixels)
