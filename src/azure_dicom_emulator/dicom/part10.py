"""Reading DICOM Part 10 files: the header without pixel data, a check that the file is whole, and where
the pixel data lies."""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import pydicom
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import DeflatedExplicitVRLittleEndian, PrivateTransferSyntaxes

PREAMBLE_LENGTH = 128
MAGIC = b"DICM"
# Values larger than this are read only when accessed: metadata never needs bulk values.
DEFER_SIZE = 64 * 1024

_PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # float, double float and plain pixel data
_SPECIFIC_CHARACTER_SET = 0x00080005
_ITEM = (0xFFFE, 0xE000)
_ITEM_DELIMITER = (0xFFFE, 0xE00D)
_SEQUENCE_DELIMITER = (0xFFFE, 0xE0DD)
_DELIMITERS = {_ITEM, _ITEM_DELIMITER, _SEQUENCE_DELIMITER}
_LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_UNDEFINED = 0xFFFFFFFF
_MAX_DEPTH = 64
_Element = tuple[int, bytes | None, int, int, int]


class NotPart10Error(ValueError):
    """The bytes are not a complete DICOM Part 10 file."""


@dataclass(frozen=True)
class PixelDataLocation:
    """Where the value of the top-level Pixel Data (7FE0,0010) element lies in a file."""

    value_offset: int
    """Offset of the first byte of the value (for encapsulated data: of the first item's tag)."""
    length: int | None
    """Length of the value; None for an undefined length (encapsulated pixel data)."""
    vr: str
    """The element's VR as written ("OB", "OW"; "" in implicit VR files)."""


@dataclass(frozen=True)
class Part10Header:
    """The header of a Part 10 file and the location of its pixel data."""

    dataset: Dataset
    """The file meta and data set up to the pixel data."""
    pixel_data: PixelDataLocation | None
    """Where the top-level pixel data is; None when there is none, or when the data set is deflated."""


@contextmanager
def file_view(fp: BinaryIO) -> Iterator[bytes | mmap.mmap]:
    """The whole of the open file ``fp`` as a read-only buffer, valid inside the context only.

    The file is mapped, not read: only the pages looked at are loaded. An empty file (which cannot be
    mapped) gives ``b""``.
    """
    if os.fstat(fp.fileno()).st_size == 0:
        yield b""
        return
    with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as view:
        yield view


def read_header(fp: BinaryIO, view: bytes | mmap.mmap) -> Part10Header:
    """The dataset (with file meta) of the Part 10 file in ``fp``, read up to its pixel data, and where
    the pixel data lies. ``view`` holds the whole file's bytes (see `file_view`); it is only read while
    this function runs.

    Raises NotPart10Error unless the file has the ``DICM`` prefix, a transfer syntax, and an
    element structure that is complete: no value, item or sequence runs past the end of the file.
    """
    if len(view) < PREAMBLE_LENGTH + 4:
        raise NotPart10Error("The file is too short to be DICOM.")
    if view[PREAMBLE_LENGTH : PREAMBLE_LENGTH + 4] != MAGIC:
        raise NotPart10Error("The file has no DICM prefix.")
    header = read_plain_header(fp, view)
    if header is not None:
        return header
    fp.seek(0)
    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=True, defer_size=DEFER_SIZE)
    except Exception as exc:  # untrusted bytes: any parser failure means "not DICOM"
        raise NotPart10Error(f"The file cannot be parsed: {exc}") from exc
    transfer_syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
    if not transfer_syntax:
        raise NotPart10Error("The file meta information has no transfer syntax.")
    if not isinstance(transfer_syntax, str):  # several values
        raise NotPart10Error(f"The file meta information holds more than one transfer syntax: {transfer_syntax}.")
    try:
        implicit_vr, little_endian = transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian
    except ValueError as exc:  # not a transfer syntax pydicom knows, e.g. a truncated UID
        raise NotPart10Error(f"The transfer syntax {transfer_syntax!r} is not supported.") from exc
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        check_structure(_inflated(view), implicit_vr, little_endian)
        return Part10Header(ds, None)
    return Part10Header(ds, check_structure(view, implicit_vr, little_endian))


def _inflated(view: bytes | mmap.mmap) -> bytes:
    """The Part 10 file in ``view`` with its deflated data set inflated, to be judged as an undeflated file is."""
    try:
        dataset_start = _walk(view, PREAMBLE_LENGTH + 4, len(view), False, True, 0, meta_only=True)
        return bytes(view[:dataset_start]) + zlib.decompressobj(-zlib.MAX_WBITS).decompress(view[dataset_start:])
    except (struct.error, zlib.error) as exc:
        raise NotPart10Error(f"The deflated data set cannot be inflated: {exc}") from exc


def read_plain_header(fp: BinaryIO, view: bytes | mmap.mmap) -> Part10Header | None:
    """The header of the Part 10 file in ``fp`` (whose bytes are ``view``) read from its element walk alone,
    without pydicom's parser, to the data set pydicom reads; None when the file is not laid out the plain
    way or its values defeat that reading (`read_header` then leaves the file to pydicom).

    The caller has checked the ``DICM`` prefix. Raises NotPart10Error when the file is incomplete.
    """
    try:
        return _read_plain_header(fp, view)
    except NotPart10Error:
        raise
    except Exception:  # untrusted values that defeat the plain reading: pydicom judges the file
        return None


def _read_plain_header(fp: BinaryIO, view: bytes | mmap.mmap) -> Part10Header | None:
    """The header of a file laid out the plain way, read from the element walk alone; None for any other.

    Plain means: a file meta group in explicit VR little endian, a transfer syntax pydicom knows
    (not deflated) whose VR encoding every element before the pixel data follows, no command set,
    and no element of undefined length before the pixel data but sequences. pydicom reads every
    other file itself (``read_header``), so both ways give the same data set. Raises NotPart10Error
    when the file is incomplete.
    """
    meta_elements: list[_Element] = []
    elements: list[_Element] = []
    try:
        dataset_start = _walk(view, PREAMBLE_LENGTH + 4, len(view), False, True, 0, True, elements=meta_elements)
        meta = _raw_elements(view, meta_elements, False, True)
        if meta is None:
            return None
        file_meta = FileMetaDataset(meta)
        transfer_syntax = file_meta.get("TransferSyntaxUID")
        if (
            not transfer_syntax
            or not transfer_syntax.is_transfer_syntax
            or transfer_syntax.is_deflated
            or transfer_syntax in PrivateTransferSyntaxes
        ):
            return None
        implicit, little = transfer_syntax.is_implicit_VR, transfer_syntax.is_little_endian
        if implicit and has_explicit_vr(view, dataset_start):  # written explicit after all: pydicom's own guess decides
            return None
        found: list[PixelDataLocation] = []
        _walk(view, dataset_start, len(view), implicit, little, 0, pixel_data=found, elements=elements)
    except struct.error as exc:
        raise NotPart10Error("The file ends inside an element header.") from exc
    raw = _raw_elements(view, elements, implicit, little)
    if raw is None or any(tag >> 16 == 0 for tag in raw):
        return None
    dataset = Dataset(raw)
    character_set = raw.get(_SPECIFIC_CHARACTER_SET)
    encodings = convert_encodings(convert_raw_data_element(character_set).value) if character_set else default_encoding
    dataset.set_original_encoding(implicit, little, encodings)
    ds = FileDataset(fp, dataset, bytes(view[:PREAMBLE_LENGTH]), file_meta, implicit, little)
    ds.set_original_encoding(implicit, little, dataset._character_set)
    return Part10Header(ds, found[0] if found else None)


def _raw_elements(
    view: bytes | mmap.mmap, elements: list[_Element], implicit: bool, little: bool
) -> dict[BaseTag, RawDataElement] | None:
    """The elements before the pixel data as pydicom's raw elements; None if one is not plainly encoded."""
    raw: dict[BaseTag, RawDataElement] = {}
    for tag, vr, length, start, end in elements:
        if tag in _PIXEL_DATA_TAGS:
            break
        if implicit:
            vr_text = None
        elif vr is None:
            return None
        else:
            vr_text = vr.decode()
        if length == _UNDEFINED:
            if (vr_text or _dictionary_vr(tag)) != "SQ":
                return None
            value: bytes | None = bytes(view[start : end - 8])  # the items, without the sequence delimiter
            length = len(value)
        elif length > DEFER_SIZE:
            value = None
        else:
            value = bytes(view[start : start + length])
        key = BaseTag(tag)
        raw[key] = RawDataElement(key, vr_text, length, value, start, implicit, little, True, False)
    return raw


def has_explicit_vr(view: bytes | mmap.mmap, position: int) -> bool:
    """Whether the element at ``position`` is written with a VR (two uppercase letters after its tag)."""
    vr = bytes(view[position + 4 : position + 6])
    return len(vr) == 2 and vr.isalpha() and vr.isupper()


def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return ""


def check_structure(buf: bytes | mmap.mmap, implicit_vr: bool, little_endian: bool) -> PixelDataLocation | None:
    """Raises NotPart10Error unless every element of the Part 10 file in ``buf`` ends inside it.

    Reads element headers only; values are skipped by their lengths. Returns where the value of
    the top-level pixel data lies, or None when the data set has no pixel data.
    """
    found: list[PixelDataLocation] = []
    try:
        dataset_start = _walk(buf, PREAMBLE_LENGTH + 4, len(buf), False, True, 0, meta_only=True)
        _walk(buf, dataset_start, len(buf), implicit_vr, little_endian, 0, pixel_data=found)
    except struct.error as exc:
        raise NotPart10Error("The file ends inside an element header.") from exc
    return found[0] if found else None


@dataclass(frozen=True)
class ElementSpan:
    """Where one element lies in a buffer: from its tag to the end of its value."""

    tag: int
    start: int
    end: int


def element_spans(
    buf: bytes | mmap.mmap, start: int, implicit_vr: bool, little_endian: bool, meta_only: bool = False
) -> list[ElementSpan]:
    """The elements of the data set that starts at ``start`` in ``buf``, at its top level, in file order.

    With ``meta_only``, the file meta elements (group 0002) from ``start`` alone. Raises NotPart10Error
    when an element runs past the end of ``buf``.
    """
    elements: list[_Element] = []
    try:
        _walk(buf, start, len(buf), implicit_vr, little_endian, 0, meta_only=meta_only, elements=elements)
    except struct.error as exc:
        raise NotPart10Error("The file ends inside an element header.") from exc
    spans = []
    position = start
    for tag, _vr, _length, _value_start, end in elements:
        spans.append(ElementSpan(tag, position, end))
        position = end
    return spans


def _walk(
    buf: bytes | mmap.mmap,
    position: int,
    end: int,
    implicit: bool,
    little: bool,
    depth: int,
    meta_only: bool = False,
    stop_at: tuple[int, int] | None = None,
    pixel_data: list[PixelDataLocation] | None = None,
    elements: list[_Element] | None = None,
) -> int:
    """Skips elements from ``position``; returns where the walk stopped (``end`` or after ``stop_at``).

    When ``pixel_data`` is given, the location of a Pixel Data element met on the way is appended to it.
    When ``elements`` is given, every element walked at this level is appended to it as
    (tag, VR bytes or None, length, value offset, offset after the value).
    """
    if depth > _MAX_DEPTH:
        raise NotPart10Error("The file nests sequences too deeply.")
    tag_format = "<HH" if little else ">HH"
    long_format = "<L" if little else ">L"
    short_format = "<H" if little else ">H"
    unpack_from = struct.unpack_from
    while position < end:
        group, element = unpack_from(tag_format, buf, position)
        if meta_only and group != 0x0002:
            return position
        if group == 0xFFFE and (group, element) in _DELIMITERS:
            unpack_from(long_format, buf, position + 4)  # the whole header must be there
            position += 8
            if (group, element) == stop_at:
                return position
            raise NotPart10Error("The file has a delimiter out of place.")
        # Like pydicom, read an element without a VR in an explicit-VR file as implicit.
        vr: bytes | None = None if implicit else bytes(buf[position + 4 : position + 6])
        if vr is not None and not (vr.isalpha() and vr.isupper()):
            vr = None
        if vr is None:
            (length,) = unpack_from(long_format, buf, position + 4)
            position += 8
        elif vr in _LONG_LENGTH_VRS:
            (length,) = unpack_from(long_format, buf, position + 8)
            position += 12
        else:
            (length,) = unpack_from(short_format, buf, position + 6)
            position += 8
        if pixel_data is not None and group == 0x7FE0 and element == 0x0010:
            value_length = None if length == _UNDEFINED else length
            pixel_data.append(PixelDataLocation(position, value_length, "" if vr is None else vr.decode()))
        value_start = position
        if length == _UNDEFINED:
            # An undefined-length UN holds a sequence encoded in implicit VR little endian.
            position = _skip_items(buf, position, end, implicit or vr == b"UN", little, depth + 1)
        else:
            position += length
        if elements is not None:
            elements.append((group << 16 | element, vr, length, value_start, position))
    if position > end:
        raise NotPart10Error("The file ends inside an element value.")
    if stop_at is not None:
        raise NotPart10Error("The file ends inside a sequence.")
    return position


def _skip_items(buf: bytes | mmap.mmap, position: int, end: int, implicit: bool, little: bool, depth: int) -> int:
    """Skips the items of an undefined-length sequence or encapsulated pixel data, and its delimiter."""
    tag_format = "<HH" if little else ">HH"
    long_format = "<L" if little else ">L"
    while position + 8 <= end:
        group, element = struct.unpack_from(tag_format, buf, position)
        (length,) = struct.unpack_from(long_format, buf, position + 4)
        position += 8
        if (group, element) == _SEQUENCE_DELIMITER:
            return position
        if (group, element) != _ITEM:
            raise NotPart10Error("A sequence holds something other than items.")
        if length == _UNDEFINED:
            position = _walk(buf, position, end, implicit, little, depth, stop_at=_ITEM_DELIMITER)
        else:
            position += length
        if position > end:
            break
    raise NotPart10Error("The file ends inside a sequence.")


def lacks_preamble(head: bytes) -> bool:
    """Whether ``head`` (the first bytes of a file) starts straight with file meta elements.

    Such files hold a Part 10 file meta group but neither the preamble nor the ``DICM`` prefix.
    """
    return len(head) >= 8 and head[:2] == b"\x02\x00" and head[4:6].isalpha() and head[4:6].isupper()


HEAD_LENGTH = PREAMBLE_LENGTH + len(MAGIC)
"""How many leading bytes of an upload ``stored_head`` needs to see (fewer only for a shorter upload)."""


def stored_head(head: bytes) -> bytes:
    """The first ``HEAD_LENGTH`` bytes of an upload (or all of a shorter one) as they are stored.

    A Part 10 file gets a zero preamble; a file that starts straight with its file meta gets a zero
    preamble and ``DICM`` put in front, so that every stored file is a Part 10 file. Anything else is
    returned unchanged (it fails inspection later).
    """
    if head[PREAMBLE_LENGTH:HEAD_LENGTH] == MAGIC:
        return bytes(PREAMBLE_LENGTH) + head[PREAMBLE_LENGTH:]
    if lacks_preamble(head):
        return bytes(PREAMBLE_LENGTH) + MAGIC + head
    return head
