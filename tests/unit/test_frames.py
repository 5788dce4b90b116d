"""The frame index built at store time: every frame of every pixel-bearing file is a ranged read."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from azure_dicom_emulator.dicom.frame_location import frame_index_of
from azure_dicom_emulator.dicom.frames import FrameIndex, header_of, read_frame, repack_bits
from azure_dicom_emulator.dicom.part10 import file_view, read_header
from azure_dicom_emulator.storage.blobs import RangeReader
from harness.factories import make_dataset, to_bytes

from ..support.pixel_samples import GENERATED, PIXEL_SAMPLES, expected_frames, frame_count, read, sample_bytes

# Files whose frames pydicom itself cannot tell apart or read.
UNREADABLE = {"MR_truncated.dcm", "badVR.dcm", "nested_priv_SQ.dcm"}
CASES = [("sample", name) for name in PIXEL_SAMPLES if name not in UNREADABLE] + [
    ("generated", name) for name in sorted(GENERATED)
]


def file_bytes(kind: str, name: str) -> bytes:
    return sample_bytes(name) if kind == "sample" else GENERATED[name]


def index_of(data: bytes) -> FrameIndex:
    with tempfile.NamedTemporaryFile() as fp:
        fp.write(data)
        fp.flush()
        with open(fp.name, "rb") as readable, file_view(readable) as view:
            return FrameIndex.from_json(frame_index_of(fp.name, view, read_header(readable, view)).to_json())


def frames_from_index(data: bytes, index: FrameIndex) -> list[bytes]:
    if index.inflated:
        value = read(data).PixelData
        numbers = range(1, index.count + 1)
        return [read_frame(index, n, lambda offset, length: value[offset : offset + length]) for n in numbers]
    with tempfile.NamedTemporaryFile() as fp:
        fp.write(data)
        fp.flush()
        with RangeReader(fp.name) as reader:
            return [read_frame(index, n, reader) for n in range(1, index.count + 1)]


def test_the_cases_cover_every_kind_of_pixel_data():
    """Guards the parametrized tests against an empty or narrow sample set."""
    syntaxes = {str(read(file_bytes(kind, name)).file_meta.TransferSyntaxUID) for kind, name in CASES}
    assert len(CASES) > 90
    native = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
    encapsulated = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.80"}
    assert native | encapsulated <= syntaxes


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_frame_is_the_bytes_pydicom_finds(kind, name):
    data = file_bytes(kind, name)
    ds = read(data)
    index = index_of(data)
    assert index.count == frame_count(ds)
    assert frames_from_index(data, index) == expected_frames(ds)


NOT_DEFLATED = [case for case in CASES if not read(file_bytes(*case)).file_meta.TransferSyntaxUID.is_deflated]


@pytest.mark.parametrize(("kind", "name"), NOT_DEFLATED)
def test_offsets_point_into_the_file(kind, name):
    """Native frames are slices of the file; encapsulated frames are fragment values, right after item tags."""
    data = file_bytes(kind, name)
    index = index_of(data)
    for number in range(1, index.count + 1):
        for offset, length in index.ranges(number):
            assert offset > 0 and offset + length <= len(data)
            if read(data).file_meta.TransferSyntaxUID.is_encapsulated:
                assert data[offset - 8 : offset - 4] == b"\xfe\xff\x00\xe0"
                assert int.from_bytes(data[offset - 4 : offset], "little") == length


def test_one_bit_frames_that_start_inside_a_byte_are_repacked():
    index = index_of(GENERATED["one-bit-unaligned"])
    assert index.frame_bits == 15
    assert index.count == 3
    aligned = index_of(GENERATED["one-bit-aligned"])
    assert aligned.frame_bits is None


def test_single_frame_colour_image_is_one_frame():
    for name in ("SC_rgb_small_odd.dcm", "examples_rgb_color.dcm", "SC_rgb_jpeg.dcm"):
        assert index_of(sample_bytes(name)).count == 1


def test_deflated_offsets_are_into_the_inflated_value():
    index = index_of(GENERATED["multiframe-deflated"])
    assert index.inflated and index.count == 4


def test_file_without_pixel_data_has_no_frames():
    ds = make_dataset()
    del ds.PixelData
    assert index_of(to_bytes(ds)).frames == ()


@pytest.mark.parametrize(
    "attributes",
    [{"NumberOfFrames": "0"}, {"NumberOfFrames": "-2"}, {"Rows": 0}, {"BitsAllocated": 0}],
)
def test_unusable_pixel_description_gives_no_frames(attributes):
    assert index_of(to_bytes(make_dataset(**attributes))).frames == ()


def test_short_native_value_indexes_only_whole_frames():
    ds = make_dataset(rows=4, columns=4, NumberOfFrames=3)
    ds.PixelData = bytes(2 * 16 * 2 + 6)
    assert index_of(to_bytes(ds)).count == 2


def test_encapsulated_frames_that_cannot_be_told_apart_give_no_frames():
    ds = make_dataset(transfer_syntax=JPEGBaseline8Bit, NumberOfFrames=2)
    fragments = [b"\x00\x01" * 4, b"\x02\x03" * 4, b"\x04\x05" * 4]
    ds.PixelData = encapsulate(fragments, has_bot=False, fragments_per_frame=1)
    ds["PixelData"].VR = "OB"
    assert index_of(to_bytes(ds)).frames == ()


def test_index_survives_json():
    index = FrameIndex(frames=((10, 5, 30, 2), (40, 7)), frame_bits=15, inflated=True, pixel_vr="OW")
    assert FrameIndex.from_json(index.to_json()) == index
    assert index.ranges(1) == [(10, 5), (30, 2)]


def test_repack_bits_takes_bits_from_inside_a_byte():
    bits = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0], dtype=np.uint8)
    packed = np.packbits(bits, bitorder="little").tobytes()
    repacked = repack_bits(packed, 3, 7)
    assert np.unpackbits(np.frombuffer(repacked, np.uint8), bitorder="little").tolist() == [*bits[3:10], 0]
    assert repack_bits(packed, 2, 10) == np.packbits(bits[2:12], bitorder="little").tobytes()


def test_pixel_description_holds_what_rendering_needs():
    ds = make_dataset(WindowCenter=[40, 400], WindowWidth=[350, 2000], RescaleSlope="0.5", RescaleIntercept="-1024")
    described = index_of(to_bytes(ds)).pixels
    assert described["Rows"] == 8 and described["PhotometricInterpretation"] == "MONOCHROME2"
    assert described["WindowCenter"] == [40, 400] and described["RescaleSlope"] == 0.5
    header = header_of(described)
    assert header.RescaleIntercept == -1024 and list(header.WindowWidth) == [350, 2000]


def test_pixel_description_is_left_out_when_lookup_tables_are_needed():
    assert index_of(sample_bytes("examples_palette.dcm")).pixels is None
