"""Reading Part 10 files: the header, the structure check that refuses incomplete files, and the preamble."""

from __future__ import annotations

import io
import os
import random
import struct
import tempfile
import zlib

import pydicom
import pydicom.data
import pytest
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import JPEGBaseline8Bit

from azure_dicom_emulator.dicom.part10 import (
    HEAD_LENGTH,
    NotPart10Error,
    check_structure,
    file_view,
    lacks_preamble,
    read_header,
    stored_head,
)
from harness.factories import make_dataset, to_bytes

SAMPLES_DIR = os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm"))
TRUNCATED_SAMPLES = {"MR_truncated.dcm", "rtplan_truncated.dcm"}
NO_TRANSFER_SYNTAX_SAMPLE = "meta_missing_tsyntax.dcm"
DEFLATED_SAMPLE = "image_dfl.dcm"

ITEM = b"\xfe\xff\x00\xe0"
ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
UNDEFINED = b"\xff\xff\xff\xff"


def _part10_samples() -> list[str]:
    """Every file under pydicom's test files with the DICM prefix, as paths relative to the directory."""
    found = []
    for root, _, files in os.walk(SAMPLES_DIR):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as fp:
                if fp.read(132)[128:] == b"DICM":
                    found.append(os.path.relpath(path, SAMPLES_DIR).replace(os.sep, "/"))
    return sorted(found)


PART10_SAMPLES = _part10_samples()
ACCEPTED_SAMPLES = [
    name for name in PART10_SAMPLES if name not in TRUNCATED_SAMPLES and name != NO_TRANSFER_SYNTAX_SAMPLE
]
CUTS = {
    "minus-1": lambda n: n - 1,
    "minus-7": lambda n: n - 7,
    "minus-100": lambda n: n - 100,
    "half": lambda n: n // 2,
}


def sample_bytes(name: str) -> bytes:
    with open(os.path.join(SAMPLES_DIR, name), "rb") as fp:
        return fp.read()


def read_header_of(data: bytes):
    """read_header on ``data`` written to a real temporary file."""
    with tempfile.TemporaryFile() as fp:
        fp.write(data)
        fp.flush()
        with file_view(fp) as view:
            return read_header(fp, view).dataset


def ends_at_element_boundary(data: bytes, keep: int) -> bool:
    """Whether ``data[:keep]`` is ``data`` without its last top-level elements, cut exactly between two of them.

    Decided with pydicom alone: the prefix must read as the same file meta and the same leading
    elements, and the bytes right after the cut must be the tag of the next element.
    """
    try:
        whole = pydicom.dcmread(io.BytesIO(data))
        part = pydicom.dcmread(io.BytesIO(data[:keep]))
        whole_tags = [element.tag for element in whole]
        part_tags = [element.tag for element in part]
        if not part_tags or len(part_tags) >= len(whole_tags) or whole_tags[: len(part_tags)] != part_tags:
            return False
        if part.file_meta != whole.file_meta or any(part[tag] != whole[tag] for tag in part_tags):
            return False
    except Exception:  # a prefix whose values pydicom cannot even decode is not a complete file
        return False
    following = whole_tags[len(part_tags)]
    tag_format = "<HH" if whole.file_meta.TransferSyntaxUID.is_little_endian else ">HH"
    return data[keep : keep + 4] == struct.pack(tag_format, following.group, following.element)


def explicit(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element with a defined length."""
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH", group, element) + vr + b"\x00\x00" + struct.pack("<L", len(value)) + value
    return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value


def implicit(group: int, element: int, value: bytes) -> bytes:
    """An implicit VR little endian element with a defined length."""
    return struct.pack("<HHL", group, element, len(value)) + value


def undefined_item(content: bytes) -> bytes:
    return ITEM + UNDEFINED + content + ITEM_DELIMITER


def defined_item(content: bytes) -> bytes:
    return ITEM + struct.pack("<L", len(content)) + content


def base_file() -> bytes:
    """A generated explicit VR little endian file without pixel data, to which raw elements are appended."""
    ds = make_dataset()
    del ds.PixelData
    return to_bytes(ds)


# Nested undefined-length sequences and items, in explicit VR little endian:
# RequestAttributesSequence > item > ScheduledProtocolCodeSequence > (undefined item, defined item).
NESTED_SEQUENCES = (
    struct.pack("<HH", 0x0040, 0x0275)
    + b"SQ\x00\x00"
    + UNDEFINED
    + undefined_item(
        explicit(0x0040, 0x0007, b"LO", b"STEP")
        + struct.pack("<HH", 0x0040, 0x0008)
        + b"SQ\x00\x00"
        + UNDEFINED
        + undefined_item(explicit(0x0008, 0x0100, b"SH", b"C1"))
        + defined_item(explicit(0x0008, 0x0102, b"SH", b"DC"))
        + SEQUENCE_DELIMITER
    )
    + SEQUENCE_DELIMITER
)

# An undefined-length UN element in an explicit VR file: its items are implicit VR little endian.
# The private element's length 0x4E50 reads as the bytes "PN" at offset 4 of its header, so a
# walker that read the items as explicit VR would take it for a PN element and lose its way in
# the 0xFF bytes that follow.
UN_SEQUENCE = (
    struct.pack("<HH", 0x0040, 0x0275)
    + b"UN\x00\x00"
    + UNDEFINED
    + undefined_item(
        implicit(0x0008, 0x0100, b"C1")
        + implicit(0x0009, 0x1001, b"\xff" * 0x4E50)
        + struct.pack("<HH", 0x0040, 0x0008)
        + UNDEFINED
        + undefined_item(implicit(0x0008, 0x0104, b"M1"))
        + SEQUENCE_DELIMITER
    )
    + SEQUENCE_DELIMITER
)


# --- the pydicom samples -------------------------------------------------------------------------


def test_the_sample_directory_has_the_expected_kinds_of_files():
    """Guards the parametrized tests below against an empty or renamed sample set."""
    assert len(ACCEPTED_SAMPLES) > 50
    assert TRUNCATED_SAMPLES.issubset(PART10_SAMPLES)
    assert DEFLATED_SAMPLE in ACCEPTED_SAMPLES
    assert NO_TRANSFER_SYNTAX_SAMPLE in PART10_SAMPLES


@pytest.mark.parametrize("name", ACCEPTED_SAMPLES)
def test_sample_is_accepted_and_read_up_to_its_pixel_data(name):
    data = sample_bytes(name)
    ds = read_header_of(data)
    full = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == full.file_meta.TransferSyntaxUID
    assert "PixelData" not in ds
    assert [element.tag for element in ds] == [element.tag for element in full if element.tag < 0x7FE00010]


@pytest.mark.parametrize("name", sorted(TRUNCATED_SAMPLES))
def test_truncated_sample_is_refused(name):
    with pytest.raises(NotPart10Error, match="ends inside"):
        read_header_of(sample_bytes(name))


def test_sample_without_transfer_syntax_is_refused():
    with pytest.raises(NotPart10Error, match="no transfer syntax"):
        read_header_of(sample_bytes(NO_TRANSFER_SYNTAX_SAMPLE))


def _truncation_params():
    for name in ACCEPTED_SAMPLES:
        if name == DEFLATED_SAMPLE:
            continue  # the deflate stream has its own tests below
        for cut in CUTS:
            yield pytest.param(name, cut, id=f"{name}-{cut}")


@pytest.mark.parametrize(("name", "cut"), list(_truncation_params()))
def test_truncated_copy_of_sample_is_refused(name, cut):
    """Every cut is refused, unless it falls exactly between two top-level elements.

    Such a prefix is itself a complete file (e.g. JPEG2000.dcm and dicomdirtests/.../CT2/17136 cut
    in half, SC_rgb_jls_lossy_line.dcm cut in half right before its PixelData): no byte in it says
    that elements are missing, so it must be read as the shorter data set it is.
    """
    data = sample_bytes(name)
    keep = CUTS[cut](len(data))
    if ends_at_element_boundary(data, keep):
        header = read_header_of(data[:keep])
        assert [element.tag for element in header] == [
            element.tag for element in pydicom.dcmread(io.BytesIO(data[:keep]))
        ]
        return
    with pytest.raises(NotPart10Error):
        read_header_of(data[:keep])


def test_some_sample_cuts_fall_between_elements():
    """The boundary exemption above is needed for exactly these cuts (and proves the helper can say yes)."""
    exempt = {
        (name, cut)
        for name in ACCEPTED_SAMPLES
        if name != DEFLATED_SAMPLE
        for cut in CUTS
        if ends_at_element_boundary(sample_bytes(name), CUTS[cut](len(sample_bytes(name))))
    }
    assert ("SC_rgb_jls_lossy_line.dcm", "half") in exempt
    assert ("JPEG2000.dcm", "half") in exempt
    assert all(cut == "half" for _, cut in exempt)


def test_file_cut_inside_its_transfer_syntax_uid_is_refused_as_not_part10():
    data = to_bytes(make_dataset())
    transfer_syntax = b"1.2.840.10008.1.2.1"
    cut = data.index(transfer_syntax) + len(transfer_syntax) - 4  # leaves "1.2.840.10008.1."
    with pytest.raises(NotPart10Error):
        read_header_of(data[:cut])


# --- deflated files ------------------------------------------------------------------------------


def test_deflated_sample_is_accepted_with_its_inflated_data_set():
    data = sample_bytes(DEFLATED_SAMPLE)
    ds = read_header_of(data)
    full = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    assert ds.SOPInstanceUID == full.SOPInstanceUID
    assert ds.PatientName == full.PatientName
    assert "PixelData" not in ds


def _inflate(data: bytes) -> tuple[bytes, bytes]:
    """The inflated data set of a deflated Part 10 file, and the bytes after the end of its deflate stream."""
    meta_length = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta.FileMetaInformationGroupLength
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = inflater.decompress(data[132 + 12 + meta_length :])
    assert inflater.eof
    return inflated, inflater.unused_data


def test_deflated_sample_ends_with_eight_bytes_that_are_not_part_of_the_stream():
    """Why cutting 1 or 7 bytes of image_dfl.dcm cannot be detected.

    After its raw deflate stream the file carries a gzip-style trailer (CRC-32 and size of the
    inflated data). pydicom inflates with zlib.decompress, which ignores bytes after the stream's
    end, so removing up to 8 bytes leaves an intact stream and the same data set.
    """
    data = sample_bytes(DEFLATED_SAMPLE)
    inflated, trailer = _inflate(data)
    assert trailer == struct.pack("<LL", zlib.crc32(inflated), len(inflated))
    whole = pydicom.dcmread(io.BytesIO(data))
    for keep in (len(data) - 1, len(data) - 7, len(data) - 8):
        assert read_header_of(data[:keep]).SOPInstanceUID == whole.SOPInstanceUID


@pytest.mark.parametrize("cut", [9, 10, 100, "half"])
def test_deflated_sample_cut_inside_its_stream_is_refused(cut):
    data = sample_bytes(DEFLATED_SAMPLE)
    keep = len(data) // 2 if cut == "half" else len(data) - cut
    with pytest.raises(NotPart10Error):
        read_header_of(data[:keep])


# --- generated files -----------------------------------------------------------------------------


def test_generated_file_is_accepted_without_its_pixel_data():
    ds = make_dataset(PatientName="Roe^Jane")
    header = read_header_of(to_bytes(ds))
    assert header.PatientName == "Roe^Jane"
    assert header.SOPInstanceUID == ds.SOPInstanceUID
    assert "PixelData" not in header


def meta_element_ends(data: bytes) -> list[int]:
    """Where each file meta element of ``data`` ends, as pydicom encodes them."""
    position = 132
    ends = []
    for element in pydicom.dcmread(io.BytesIO(data)).file_meta:
        encoded = DicomBytesIO()
        encoded.is_little_endian = True
        encoded.is_implicit_VR = False
        write_data_element(encoded, element)
        position += len(encoded.getvalue())
        ends.append(position)
    return ends


def test_every_cut_inside_the_data_set_of_a_generated_file_is_refused_except_between_elements():
    data = to_bytes(make_dataset(rows=2, columns=2))
    dataset_start = meta_element_ends(data)[-1]
    for keep in range(dataset_start + 1, len(data)):
        if ends_at_element_boundary(data, keep):
            continue
        with pytest.raises(NotPart10Error):
            read_header_of(data[:keep])


def test_cuts_inside_the_file_meta_are_refused_except_after_a_whole_meta_element():
    """A file cut between two meta elements (at or after the transfer syntax) is complete as far as its bytes go.

    Only (0002,0000) FileMetaInformationGroupLength, which read_header does not compare, says that
    meta elements are missing. Such a header has no data set elements, so STOW validation refuses it.
    """
    data = to_bytes(make_dataset(rows=2, columns=2))
    ends = meta_element_ends(data)
    accepted = []
    for keep in range(0, ends[-1] + 1):
        try:
            header = read_header_of(data[:keep])
        except NotPart10Error:
            continue
        assert len(header) == 0
        accepted.append(keep)
    transfer_syntax_end = ends[
        [element.tag for element in pydicom.dcmread(io.BytesIO(data)).file_meta].index(0x00020010)
    ]
    assert accepted == [end for end in ends if end >= transfer_syntax_end]


def encapsulated_file() -> bytes:
    ds = make_dataset(transfer_syntax=JPEGBaseline8Bit, BitsAllocated=8, BitsStored=8, HighBit=7)
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(100) + b"\xff\xd9", b"\xff\xd8" + bytes(30) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    data = to_bytes(ds)
    assert data.endswith(SEQUENCE_DELIMITER)
    return data


def test_encapsulated_pixel_data_is_accepted():
    assert read_header_of(encapsulated_file()).file_meta.TransferSyntaxUID == JPEGBaseline8Bit


def test_encapsulated_pixel_data_without_sequence_delimiter_is_refused():
    data = encapsulated_file()
    with pytest.raises(NotPart10Error, match="inside a sequence"):
        read_header_of(data[: -len(SEQUENCE_DELIMITER)])


def test_encapsulated_sample_without_sequence_delimiter_is_refused():
    data = sample_bytes("JPEG-lossy.dcm")
    assert data.endswith(SEQUENCE_DELIMITER)
    with pytest.raises(NotPart10Error):
        read_header_of(data[: -len(SEQUENCE_DELIMITER)])


def test_encapsulated_fragment_running_past_the_end_is_refused():
    data = encapsulated_file()
    # The last fragment claims 4 more bytes than the file holds before the delimiter.
    start = data.rindex(ITEM)
    (length,) = struct.unpack_from("<L", data, start + 4)
    broken = data[: start + 4] + struct.pack("<L", length + 4 + len(SEQUENCE_DELIMITER)) + data[start + 8 :]
    with pytest.raises(NotPart10Error):
        read_header_of(broken)


def test_nested_undefined_length_sequences_are_accepted():
    ds = read_header_of(base_file() + NESTED_SEQUENCES)
    outer = ds.RequestAttributesSequence[0]
    assert outer.ScheduledProcedureStepDescription == "STEP"
    assert [item.get("CodeValue") for item in outer.ScheduledProtocolCodeSequence] == ["C1", None]
    assert outer.ScheduledProtocolCodeSequence[1].CodingSchemeDesignator == "DC"


def test_every_cut_inside_nested_undefined_length_sequences_is_refused():
    base = base_file()
    data = base + NESTED_SEQUENCES
    for keep in range(len(base) + 1, len(data)):
        with pytest.raises(NotPart10Error):
            read_header_of(data[:keep])


def test_missing_item_delimiter_in_nested_sequence_is_refused():
    inner_item_end = NESTED_SEQUENCES.index(ITEM_DELIMITER)
    broken = NESTED_SEQUENCES[:inner_item_end] + NESTED_SEQUENCES[inner_item_end + len(ITEM_DELIMITER) :]
    with pytest.raises(NotPart10Error):
        read_header_of(base_file() + broken)


def test_un_with_undefined_length_is_walked_as_implicit_vr():
    data = base_file() + UN_SEQUENCE
    read_header_of(data)
    check_structure(data, implicit_vr=False, little_endian=True)


def test_every_cut_inside_an_undefined_length_un_is_refused():
    base = base_file()
    data = base + UN_SEQUENCE
    big_value_start = len(base) + UN_SEQUENCE.index(b"\xff" * 16)
    cuts = [*range(len(base) + 1, big_value_start + 8), *range(len(data) - 80, len(data)), len(data) - 0x4E50 // 2]
    for keep in cuts:
        with pytest.raises(NotPart10Error):
            read_header_of(data[:keep])


def test_un_sequence_sample_is_accepted():
    ds = read_header_of(sample_bytes("UN_sequence.dcm"))
    assert ds.file_meta.TransferSyntaxUID.is_implicit_VR is False


# --- not DICOM at all ----------------------------------------------------------------------------


def test_file_without_dicm_prefix_is_refused():
    data = bytearray(to_bytes(make_dataset()))
    data[128:132] = b"DICX"
    with pytest.raises(NotPart10Error, match="DICM"):
        read_header_of(bytes(data))


def test_sample_without_file_meta_is_refused():
    with pytest.raises(NotPart10Error, match="DICM"):
        read_header_of(sample_bytes("ExplVR_LitEndNoMeta.dcm"))


@pytest.mark.parametrize("data", [b"", b"DICM", bytes(131), bytes(128) + b"DIC"], ids=["empty", "dicm", "131", "dic"])
def test_file_too_short_for_a_prefix_is_refused(data):
    with pytest.raises(NotPart10Error):
        read_header_of(data)


@pytest.mark.parametrize("seed", range(20))
def test_garbage_is_refused(seed):
    rng = random.Random(seed)
    with pytest.raises(NotPart10Error):
        read_header_of(rng.randbytes(rng.randrange(132, 4000)))
    with pytest.raises(NotPart10Error):
        read_header_of(bytes(128) + b"DICM" + rng.randbytes(rng.randrange(0, 4000)))


@pytest.mark.parametrize("seed", range(20))
def test_garbage_after_a_valid_file_meta_is_refused(seed):
    rng = random.Random(seed)
    ds = make_dataset()
    meta_end = 132 + 12 + pydicom.dcmread(io.BytesIO(to_bytes(ds))).file_meta.FileMetaInformationGroupLength
    data = to_bytes(ds)[:meta_end] + rng.randbytes(rng.randrange(8, 4000))
    with pytest.raises(NotPart10Error):
        read_header_of(data)


# --- check_structure directly --------------------------------------------------------------------


def test_check_structure_uses_the_given_byte_order():
    data = sample_bytes("MR_small_bigendian.dcm")
    check_structure(data, implicit_vr=False, little_endian=False)
    with pytest.raises(NotPart10Error):
        check_structure(data, implicit_vr=False, little_endian=True)


def test_check_structure_uses_the_given_vr_encoding():
    implicit_data = sample_bytes("MR_small_implicit.dcm")
    check_structure(implicit_data, implicit_vr=True, little_endian=True)
    explicit_data = sample_bytes("MR_small.dcm")
    with pytest.raises(NotPart10Error):
        check_structure(explicit_data, implicit_vr=True, little_endian=True)


def test_check_structure_refuses_a_delimiter_at_top_level():
    with pytest.raises(NotPart10Error, match="delimiter"):
        check_structure(base_file() + SEQUENCE_DELIMITER, implicit_vr=False, little_endian=True)


def test_check_structure_refuses_a_sequence_holding_an_element():
    element = explicit(0x0008, 0x0100, b"SH", b"C1")
    broken = struct.pack("<HH", 0x0040, 0x0275) + b"SQ\x00\x00" + UNDEFINED + element + SEQUENCE_DELIMITER
    with pytest.raises(NotPart10Error, match="other than items"):
        check_structure(base_file() + broken, implicit_vr=False, little_endian=True)


def nested(depth: int) -> bytes:
    """``depth`` undefined-length sequences, each the only element of its parent's only item."""
    data = b""
    for _ in range(depth):
        data = (
            struct.pack("<HH", 0x0040, 0x0275) + b"SQ\x00\x00" + UNDEFINED + undefined_item(data) + SEQUENCE_DELIMITER
        )
    return data


def test_check_structure_accepts_moderate_nesting():
    check_structure(base_file() + nested(20), implicit_vr=False, little_endian=True)


def test_check_structure_refuses_deep_nesting_instead_of_recursing_without_end():
    with pytest.raises(NotPart10Error, match="too deeply"):
        check_structure(base_file() + nested(1000), implicit_vr=False, little_endian=True)


# --- lacks_preamble and stored_head --------------------------------------------------------------


def test_file_starting_with_file_meta_lacks_preamble():
    data = to_bytes(make_dataset())
    assert lacks_preamble(data[132:])
    assert not lacks_preamble(data)


@pytest.mark.parametrize(
    "head",
    [
        b"\x02\x00\x00\x00UL",  # too short to hold an element header
        b"\x02\x00\x00\x00\x04\x00\x00\x00",  # implicit VR: the meta is always explicit
        b"\x02\x00\x00\x00ul\x04\x00",  # not a VR
        b"\x08\x00\x05\x00CS\x0a\x00",  # a data set element, not file meta
        b"\x00\x02\x00\x00UL\x00\x04",  # big endian group
    ],
)
def test_other_heads_do_not_lack_only_a_preamble(head):
    assert not lacks_preamble(head)


@pytest.mark.parametrize("name", ["ExplVR_LitEndNoMeta.dcm", "ExplVR_BigEndNoMeta.dcm", "no_meta.dcm"])
def test_files_without_file_meta_do_not_lack_only_a_preamble(name):
    assert not lacks_preamble(sample_bytes(name)[:256])


def test_stored_head_zeroes_only_the_preamble():
    data = to_bytes(make_dataset(), preamble=b"MZ" + b"\x90" * 126)
    head = stored_head(data[:HEAD_LENGTH])
    assert head[:128] == bytes(128)
    assert head[128:] == data[128:HEAD_LENGTH]


def test_stored_head_puts_a_preamble_before_file_meta():
    data = to_bytes(make_dataset())
    assert stored_head(data[132 : 132 + HEAD_LENGTH]) == bytes(128) + b"DICM" + data[132 : 132 + HEAD_LENGTH]


@pytest.mark.parametrize("head", [b"", b"DICM", b"not a dicom file at all" * 10])
def test_stored_head_leaves_other_bytes_alone(head):
    assert stored_head(head) == head
