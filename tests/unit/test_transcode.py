"""Transcoding files to Explicit VR Little Endian and to JPEG 2000 lossless, from every syntax Azure converts."""

from __future__ import annotations

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
)

from azure_dicom_emulator.dicom.part10 import check_structure
from azure_dicom_emulator.dicom.transcode import (
    TranscodeError,
    decode_frame,
    to_explicit_vr_little_endian,
    transcode,
    transcode_frame,
)
from harness.factories import make_dataset, to_bytes

from ..support.jpeg_2000 import (
    COD_MCT,
    COD_TRANSFORM,
    REVERSIBLE_5_3,
    cod_segment,
    decomposition_levels,
    most_decompositions,
)
from ..support.pixel_samples import PIXEL_SAMPLES, read, sample_bytes

CONVERTED_SOURCES = {ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
WORD_VRS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _samples_by_transfer_syntax() -> dict[str, list[str]]:
    """Part 10 samples with pixel data, by transfer syntax."""
    found: dict[str, list[str]] = {}
    for name in PIXEL_SAMPLES:
        found.setdefault(str(read(sample_bytes(name)).file_meta.TransferSyntaxUID), []).append(name)
    return found


SAMPLES = _samples_by_transfer_syntax()
UNCOMPRESSED_SAMPLES = sorted(name for ts in CONVERTED_SOURCES for name in SAMPLES.get(ts, []))
# nested_priv_SQ.dcm: implicit VR with pixel data, but no (0002,0002)/(0002,0003) and no SOP UIDs, so no
# Part 10 file can be written from it (stored instances always have them).
WITHOUT_SOP_UIDS = {"nested_priv_SQ.dcm"}
UNCOMPRESSED_PARAMS = [name for name in UNCOMPRESSED_SAMPLES if name not in WITHOUT_SOP_UIDS]


@pytest.mark.parametrize("name", sorted(WITHOUT_SOP_UIDS))
def test_sample_without_sop_uids_is_refused(name):
    with pytest.raises(TranscodeError):
        to_explicit_vr_little_endian(sample_bytes(name))


EXPLICIT_LE_SAMPLES = sorted(SAMPLES.get(ExplicitVRLittleEndian, []))
COMPRESSED_SAMPLES = sorted(
    name
    for ts, names in SAMPLES.items()
    if pydicom.uid.UID(ts).is_compressed and ts != DeflatedExplicitVRLittleEndian
    for name in names
)


def test_the_samples_cover_every_source_syntax():
    """Guards the parametrized tests against an empty sample set."""
    for transfer_syntax in CONVERTED_SOURCES:
        assert SAMPLES.get(transfer_syntax), transfer_syntax
    assert len(COMPRESSED_SAMPLES) > 20
    assert EXPLICIT_LE_SAMPLES


@pytest.mark.parametrize("name", UNCOMPRESSED_PARAMS)
def test_uncompressed_sample_converts_with_equal_pixels(name):
    data = sample_bytes(name)
    source = read(data)
    result = to_explicit_vr_little_endian(data)
    converted = read(result)
    assert converted.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert result[128:132] == b"DICM"
    check_structure(result, implicit_vr=False, little_endian=True)
    assert np.array_equal(converted.pixel_array, source.pixel_array)
    assert converted.pixel_array.dtype == source.pixel_array.dtype.newbyteorder("=")


@pytest.mark.parametrize("name", UNCOMPRESSED_PARAMS)
def test_uncompressed_sample_keeps_its_other_values(name):
    """Every element other than the pixel data has the same value; word-sized binary values the same numbers."""
    source = read(sample_bytes(name))
    converted = read(to_explicit_vr_little_endian(sample_bytes(name)))
    source_order = ">" if source.file_meta.TransferSyntaxUID == ExplicitVRBigEndian else "<"
    # Group lengths (gggg,0000) are retired and pydicom leaves them out when it writes.
    assert [element.tag for element in converted] == [element.tag for element in source if element.tag.element]
    for element in source.iterall():
        if element.tag == 0x7FE00010 or element.VR == "SQ":
            continue
        if element.VR in WORD_VRS and isinstance(element.value, bytes):
            width = WORD_VRS[element.VR]
            expected = np.frombuffer(element.value, dtype=f"{source_order}u{width}")
            assert np.array_equal(np.frombuffer(converted[element.tag].value, dtype=f"<u{width}"), expected)
    for element in source:
        if element.tag == 0x7FE00010 or element.VR in WORD_VRS or element.VR == "SQ" or not element.tag.element:
            continue
        assert converted[element.tag].value == element.value, element


@pytest.mark.parametrize("name", EXPLICIT_LE_SAMPLES)
def test_explicit_little_endian_sample_is_returned_unchanged(name):
    data = sample_bytes(name)
    assert to_explicit_vr_little_endian(data) == data


def test_explicit_little_endian_file_is_returned_byte_for_byte():
    """Including a preamble and group lengths that a re-encoding would change."""
    data = to_bytes(make_dataset(), preamble=b"\x01" * 128)
    assert to_explicit_vr_little_endian(data) == data


def source_pixels(data: bytes) -> np.ndarray | None:
    """pydicom's pixel_array of the file, or None when pydicom cannot decode it."""
    try:
        return read(data).pixel_array
    except Exception:
        return None


@pytest.mark.parametrize("name", COMPRESSED_SAMPLES)
def test_compressed_sample_decodes_to_the_same_pixels(name):
    data = sample_bytes(name)
    expected = source_pixels(data)
    if expected is None:  # pydicom's decoders refuse it: so must we
        with pytest.raises(TranscodeError):
            to_explicit_vr_little_endian(data)
        return
    result = read(to_explicit_vr_little_endian(data))
    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "PlanarConfiguration" not in result or result.PlanarConfiguration == 0
    assert np.array_equal(result.pixel_array, expected)


def jpeg_2000_cannot_hold(ds: Dataset) -> bool:
    """JPEG 2000 lossless is written here for 8- and 16-bit samples only (no 1-bit, no 32-bit)."""
    return ds.get("BitsAllocated") in (1, 32)


@pytest.mark.parametrize("name", UNCOMPRESSED_PARAMS + COMPRESSED_SAMPLES)
def test_sample_to_jpeg_2000_lossless_keeps_the_pixels(name):
    data = sample_bytes(name)
    expected = source_pixels(data)
    source = read(data)
    if expected is None or jpeg_2000_cannot_hold(source):
        with pytest.raises(TranscodeError):
            transcode(data, JPEG2000Lossless)
        return
    result = read(transcode(data, JPEG2000Lossless))
    assert result.file_meta.TransferSyntaxUID == JPEG2000Lossless
    assert result.SOPInstanceUID == source.SOPInstanceUID
    assert np.array_equal(result.pixel_array, expected.astype(expected.dtype.newbyteorder("=")))


SIZES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 5), (8, 9), (9, 8), (16, 16), (31, 33), (64, 64), (70, 65)]
DEPTHS = [(8, False), (8, True), (12, False), (12, True), (16, False), (16, True)]


def pixel_file(rows: int, columns: int, bits_stored: int, signed: bool, samples: int, frames: int) -> Dataset:
    """An Explicit VR Little Endian instance whose pixels run through the whole range of their depth."""
    bits_allocated = 8 if bits_stored == 8 else 16
    low, high = (-(2 ** (bits_stored - 1)), 2 ** (bits_stored - 1) - 1) if signed else (0, 2**bits_stored - 1)
    count = frames * rows * columns * samples
    values = low + (np.arange(count, dtype=np.int64) * 2654435761) % (high - low + 1)
    values[: min(2, count)] = [low, high][: min(2, count)]
    dtype = f"<{'i' if signed else 'u'}{bits_allocated // 8}"
    ds = make_dataset(
        rows=rows,
        columns=columns,
        BitsAllocated=bits_allocated,
        BitsStored=bits_stored,
        HighBit=bits_stored - 1,
        PixelRepresentation=int(signed),
        SamplesPerPixel=samples,
        PhotometricInterpretation="RGB" if samples == 3 else "MONOCHROME2",
    )
    if samples == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = values.astype(dtype).tobytes()
    return ds


@pytest.mark.parametrize(("rows", "columns"), SIZES)
@pytest.mark.parametrize(("bits_stored", "signed"), DEPTHS)
@pytest.mark.parametrize("samples", [1, 3])
def test_images_of_every_size_and_depth_transcode_to_jpeg_2000_lossless_with_equal_pixels(
    rows, columns, bits_stored, signed, samples
):
    frames = 3 if (rows + columns) % 2 else 1
    source = pixel_file(rows, columns, bits_stored, signed, samples, frames)
    result = read(transcode(to_bytes(source), JPEG2000Lossless))
    assert result.file_meta.TransferSyntaxUID == JPEG2000Lossless
    for index in range(frames):
        codestream = pydicom.encaps.get_frame(result.PixelData, index, number_of_frames=frames)
        if samples == 1 or bits_stored == 8:
            assert decomposition_levels(codestream) == most_decompositions(rows, columns)
    assert np.array_equal(result.pixel_array, source.pixel_array)


@pytest.mark.parametrize(("rows", "columns"), SIZES)
@pytest.mark.parametrize(("bits_stored", "signed"), DEPTHS)
@pytest.mark.parametrize("samples", [1, 3])
def test_frames_of_every_size_and_depth_transcode_to_jpeg_2000_codestreams_with_equal_pixels(
    rows, columns, bits_stored, signed, samples
):
    source = pixel_file(rows, columns, bits_stored, signed, samples, frames=2)
    frame_length = len(source.PixelData) // 2
    second = source.PixelData[frame_length:]
    codestream = transcode_frame(source, second, ExplicitVRLittleEndian, JPEG2000Lossless)
    assert codestream[:4] == b"\xff\x4f\xff\x51"  # a JPEG 2000 codestream: SOC, SIZ
    if samples == 1 or bits_stored == 8:
        assert decomposition_levels(codestream) == most_decompositions(rows, columns)
    pixels, _ = decode_frame(source, codestream, JPEG2000Lossless)
    assert np.array_equal(pixels, source.pixel_array[1])


LEVEL_SIZES = [(1, 1), (1, 7), (2, 2), (8, 9), (17, 33), (64, 64), (512, 512), (300, 1030)]
LEVELS = {(1, 1): 0, (1, 7): 0, (2, 2): 1, (8, 9): 3, (17, 33): 4, (64, 64): 6, (512, 512): 9, (300, 1030): 8}


@pytest.mark.parametrize(("rows", "columns"), LEVEL_SIZES)
@pytest.mark.parametrize(
    ("bits_stored", "signed", "samples"), [(8, False, 1), (12, True, 1), (16, False, 1), (8, False, 3)]
)
def test_jpeg_2000_codestreams_carry_as_many_decomposition_levels_as_the_image_allows(
    rows, columns, bits_stored, signed, samples
):
    source = pixel_file(rows, columns, bits_stored, signed, samples, frames=1)
    codestream = transcode_frame(source, source.PixelData, ExplicitVRLittleEndian, JPEG2000Lossless)
    assert decomposition_levels(codestream) == LEVELS[rows, columns] == most_decompositions(rows, columns)
    cod = cod_segment(codestream)
    assert cod[COD_MCT] == 0  # no colour transform
    assert cod[COD_TRANSFORM] == REVERSIBLE_5_3
    pixels, _ = decode_frame(source, codestream, JPEG2000Lossless)
    assert np.array_equal(pixels, source.pixel_array)


def test_jpeg_2000_lossless_file_is_returned_unchanged():
    data = sample_bytes("MR_small_jp2klossless.dcm")
    assert transcode(data, JPEG2000Lossless) == data


@pytest.mark.parametrize("target", ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2", "*"])
def test_other_targets_are_refused(target):
    with pytest.raises(TranscodeError):
        transcode(sample_bytes("CT_small.dcm"), target)


def test_unsupported_source_is_refused():
    ds = make_dataset(transfer_syntax="1.2.840.10008.1.2.4.100")  # MPEG2
    ds.PixelData = pydicom.encaps.encapsulate([bytes(16)])
    ds["PixelData"].VR = "OB"
    for target in (ExplicitVRLittleEndian, JPEG2000Lossless):
        with pytest.raises(TranscodeError, match="1.2.840.10008.1.2.4.100"):
            transcode(to_bytes(ds), target)


def test_corrupted_compressed_stream_is_refused():
    ds = make_dataset(transfer_syntax=JPEGBaseline8Bit, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8" + bytes(10) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    with pytest.raises(TranscodeError):
        to_explicit_vr_little_endian(to_bytes(ds))


@pytest.mark.parametrize("data", [b"", b"not dicom at all", bytes(128) + b"DICX" + bytes(64)])
def test_unparsable_input_is_refused(data):
    with pytest.raises(TranscodeError):
        to_explicit_vr_little_endian(data)


def test_file_without_transfer_syntax_is_refused():
    """meta_missing_tsyntax.dcm reads, but nothing says how its data set is encoded."""
    with pytest.raises(TranscodeError):
        to_explicit_vr_little_endian(sample_bytes("meta_missing_tsyntax.dcm"))


def big_endian_file() -> tuple[bytes, np.ndarray]:
    """An Explicit VR Big Endian file with word-sized binary values (also inside a sequence), and its pixels."""
    pixels = ((np.arange(64, dtype=np.uint32) * 1021) % 65536).astype(np.uint16).reshape(8, 8)
    ds = make_dataset(
        transfer_syntax=ExplicitVRBigEndian, PatientName="Müller^Jürgen", SpecificCharacterSet="ISO_IR 100"
    )
    ds.PixelData = pixels.astype(">u2").tobytes()
    ds["PixelData"].VR = "OW"
    ds.AcquisitionMatrix = [0, 8, 8, 0]  # US, multi-valued
    ds.DiffusionBValue = 1000.5  # FD
    ds.DataPointRows = 70000  # UL
    ds.FrameIncrementPointer = 0x00181063  # AT
    ds.RedPaletteColorLookupTableData = np.array([1, 256, 65535], dtype=">u2").tobytes()  # OW
    ds.VectorGridData = np.array([1.5, -2.25], dtype=">f4").tobytes()  # OF
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.GreenPaletteColorLookupTableData = np.array([7, 0x0102], dtype=">u2").tobytes()  # OW in a sequence
    ds.ReferencedImageSequence = Sequence([item])
    return to_bytes(ds), pixels


def test_big_endian_values_are_kept():
    data, pixels = big_endian_file()
    converted = read(to_explicit_vr_little_endian(data))
    assert converted.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(converted.pixel_array, pixels)
    assert converted.PatientName == "Müller^Jürgen"
    assert converted.AcquisitionMatrix == [0, 8, 8, 0]
    assert converted.Rows == 8
    assert converted.DiffusionBValue == 1000.5
    assert converted.DataPointRows == 70000
    assert converted.FrameIncrementPointer == 0x00181063
    assert converted["RedPaletteColorLookupTableData"].VR == "OW"
    assert np.frombuffer(converted.RedPaletteColorLookupTableData, "<u2").tolist() == [1, 256, 65535]
    assert converted["VectorGridData"].VR == "OF"
    assert np.frombuffer(converted.VectorGridData, "<f4").tolist() == [1.5, -2.25]
    (item,) = converted.ReferencedImageSequence
    assert item.ReferencedSOPInstanceUID == "1.2.3"
    assert np.frombuffer(item.GreenPaletteColorLookupTableData, "<u2").tolist() == [7, 0x0102]


def test_big_endian_eight_bit_pixels_in_ow_are_swapped_in_words():
    """PS3.5 §A.3: 8-bit pixels encoded as OW in big endian are byte-swapped in pairs."""
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ds = make_dataset(rows=4, columns=4, transfer_syntax=ExplicitVRBigEndian, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PixelData = pixels.reshape(-1, 2)[:, ::-1].tobytes()  # each pair of bytes as one big endian word
    ds["PixelData"].VR = "OW"
    data = to_bytes(ds)
    assert np.array_equal(read(data).pixel_array, pixels)
    converted = read(to_explicit_vr_little_endian(data))
    assert converted.PixelData == pixels.tobytes()
    assert np.array_equal(converted.pixel_array, pixels)


def test_eight_bit_pixels_in_ob_are_not_swapped():
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    ds = make_dataset(rows=4, columns=4, transfer_syntax=ExplicitVRBigEndian, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OB"
    converted = read(to_explicit_vr_little_endian(to_bytes(ds)))
    assert converted.PixelData == pixels.tobytes()


@pytest.mark.parametrize("source", [ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian])
def test_little_endian_sources_keep_their_values(source):
    ds = make_dataset(transfer_syntax=source, AcquisitionMatrix=[0, 8, 8, 0])
    ds.RedPaletteColorLookupTableData = np.array([1, 256, 65535], dtype="<u2").tobytes()
    data = to_bytes(ds)
    converted = read(to_explicit_vr_little_endian(data))
    assert converted.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert converted.PatientName == "Doe^John"
    assert converted.AcquisitionMatrix == [0, 8, 8, 0]
    assert np.frombuffer(converted.RedPaletteColorLookupTableData, "<u2").tolist() == [1, 256, 65535]
    assert np.array_equal(converted.pixel_array, read(data).pixel_array)
    assert converted.SOPInstanceUID == ds.SOPInstanceUID
    assert converted.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_converted_file_converts_to_itself():
    data, _ = big_endian_file()
    once = to_explicit_vr_little_endian(data)
    assert to_explicit_vr_little_endian(once) == once


def test_readable_file_without_sop_uids_converts_or_raises_transcode_error():
    """empty_charset_LEI.dcm: implicit VR, readable, but without (0002,0002)/(0002,0003) or SOP UIDs."""
    data = sample_bytes("empty_charset_LEI.dcm")
    assert read(data).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    try:
        result = to_explicit_vr_little_endian(data)
    except TranscodeError:
        return  # refusing it is fine; any other exception breaks the function's contract
    assert read(result).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
