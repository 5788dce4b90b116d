"""Updating top-level elements of a stored Part 10 file by splicing its bytes (bulk update, spec §10).

The new file is the old one with the changed elements replaced or added in tag order, encoded in
the file's transfer syntax and Specific Character Set, and its file meta group rebuilt with a new
implementation class and version (and its group length). Every other byte is copied unchanged, so
pixel data and frames stay byte-identical; a deflated data set is inflated, spliced and deflated
again. The update's metadata is the stored DICOM JSON with the changed elements' JSON put in.
"""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import BinaryIO

from pydicom.charset import convert_encodings
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_data_element
from pydicom.uid import UID

from .dicom_json import dataset_to_dicom_json
from .frame_location import frame_index_of
from .metadata_update import top_level_entries, with_entries
from .part10 import (
    HEAD_LENGTH,
    MAGIC,
    PREAMBLE_LENGTH,
    ElementSpan,
    NotPart10Error,
    element_spans,
    file_view,
    has_explicit_vr,
)
from .part10 import read_header as read_part10_header

__all__ = ["IMPLEMENTATION_CLASS_UID", "UnencodableValue", "UpdatedFile", "change_dataset", "update_file"]

IMPLEMENTATION_CLASS_UID = "1.3.6.1.4.1.311.129"
"""The (0002,0012) Implementation Class UID of every file an update writes, as Azure's."""

_GROUP_LENGTH = 0x00020000
_TRANSFER_SYNTAX = 0x00020010
_IMPLEMENTATION_CLASS = 0x00020012
_IMPLEMENTATION_VERSION = 0x00020013
_SPECIFIC_CHARACTER_SET = 0x00080005
_SHORT_HEADER = 8  # tag, and VR with a 2-byte length or a 4-byte implicit length
_COPY_BYTES = 8 * 1024 * 1024
_UNENCODABLE_WARNING = "Failed to encode value"


class UnencodableValue(ValueError):
    """A new value has characters that the file's Specific Character Set cannot represent."""


@dataclass(frozen=True)
class UpdatedFile:
    """What the store path needs to know of an updated file."""

    size: int
    metadata: str
    """The stored DICOM JSON with the changed elements replaced or added."""
    frame_index: str
    """Where each frame lies in the new file (``frames.FrameIndex`` as JSON)."""


def change_dataset(changes: Mapping[str, object]) -> Dataset:
    """The DICOM JSON object ``changes`` as a data set; ValueError when it is not valid DICOM JSON."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = Dataset.from_json(dict(changes))
            for elem in dataset:  # values are converted when first read: a bad one fails here
                _ = elem.value
            return dataset
    except Exception as exc:  # anything from_json cannot read is no DICOM JSON
        raise ValueError(f"The change dataset is not valid DICOM JSON: {exc}") from exc


def update_file(
    source: str, target: str, changes: Mapping[str, object], implementation_version: str, metadata: str
) -> UpdatedFile:
    """Writes to ``target`` the Part 10 file ``source`` with the DICOM JSON ``changes`` applied.

    ``metadata`` is the source's stored DICOM JSON. Raises UnencodableValue when a new value cannot
    be encoded in the file's character set (no Specific Character Set means ASCII only), and
    NotPart10Error or ValueError when ``source`` is not a file this can update.
    """
    dataset = change_dataset(changes)
    with open(source, "rb") as fp, file_view(fp) as view, open(target, "wb") as out:
        meta = element_spans(view, HEAD_LENGTH, False, True, meta_only=True)
        if view[PREAMBLE_LENGTH:HEAD_LENGTH] != MAGIC or not meta:
            raise NotPart10Error("The file has no file meta information.")
        syntax = _transfer_syntax(view, meta)
        implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
        out.write(view[:HEAD_LENGTH])
        out.write(_file_meta(view, meta, implementation_version))
        start = meta[-1].end
        if syntax.is_deflated:
            inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(view[start:])
            entries = _write_spliced(
                _Deflating(out), inflated, 0, _written_implicit(inflated, 0, implicit), little, dataset
            )
        else:
            entries = _write_spliced(out, view, start, _written_implicit(view, start, implicit), little, dataset)
        size = out.tell()
    updated_metadata = with_entries(metadata, entries)
    with open(target, "rb") as fp, file_view(fp) as view:
        header = read_part10_header(fp, view)
        frame_index = frame_index_of(target, view, header, json.loads(updated_metadata)).to_json()
    return UpdatedFile(size=size, metadata=updated_metadata, frame_index=frame_index)


class _Deflating:
    """A file that deflates what is written to it (raw deflate, as PS3.5 A.5 wants) until closed."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)

    def write(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))

    def close(self) -> None:
        self.out.write(self.compressor.flush())


def _written_implicit(buf: bytes, start: int, declared_implicit: bool) -> bool:
    """Whether the data set at ``start`` is written in implicit VR: as its first element is written, whatever
    the transfer syntax says (as pydicom reads such files, and so as the store path indexed them)."""
    if len(buf) < start + 6:
        return declared_implicit
    return not has_explicit_vr(buf, start)


def _transfer_syntax(view: bytes, meta: list[ElementSpan]) -> UID:
    for span in meta:
        if span.tag == _TRANSFER_SYNTAX:
            syntax = UID(bytes(view[span.start + _SHORT_HEADER : span.end]).decode("ascii").rstrip("\0 "))
            if not syntax.is_transfer_syntax:
                raise ValueError(f"The transfer syntax {syntax} is not one this can write.")
            return syntax
    raise NotPart10Error("The file meta information has no transfer syntax.")


def _file_meta(view: bytes, meta: list[ElementSpan], implementation_version: str) -> bytes:
    """The file meta group with the new implementation class and version, and its group length."""
    elements = {span.tag: bytes(view[span.start : span.end]) for span in meta if span.tag != _GROUP_LENGTH}
    elements[_IMPLEMENTATION_CLASS] = _encoded(DataElement(_IMPLEMENTATION_CLASS, "UI", IMPLEMENTATION_CLASS_UID))
    elements[_IMPLEMENTATION_VERSION] = _encoded(DataElement(_IMPLEMENTATION_VERSION, "SH", implementation_version))
    body = b"".join(elements[tag] for tag in sorted(elements))
    return _encoded(DataElement(_GROUP_LENGTH, "UL", len(body))) + body


def _write_spliced(
    out: BinaryIO | _Deflating, buf: bytes, start: int, implicit: bool, little: bool, dataset: Dataset
) -> dict[str, str]:
    """Writes the data set at ``start`` of ``buf`` with ``dataset``'s elements spliced in; returns their JSON."""
    spans = element_spans(buf, start, implicit, little)
    by_tag = {span.tag: span for span in spans}
    charset = by_tag.get(_SPECIFIC_CHARACTER_SET)
    charset_bytes = bytes(buf[charset.start : charset.end]) if charset else b""
    encodings = _encodings(buf, charset)
    encoded = {int(elem.tag): _encoded(elem, implicit, little, encodings) for elem in dataset}
    for start_at, end_at, data in _edits(buf, spans, by_tag, encoded, little):
        _copy(out, buf, start, start_at)
        out.write(data)
        start = end_at
    _copy(out, buf, start, len(buf))
    if isinstance(out, _Deflating):
        out.close()
    return _entries(charset_bytes, encoded, implicit, little)


def _edits(
    buf: bytes, spans: list[ElementSpan], by_tag: dict[int, ElementSpan], encoded: dict[int, bytes], little: bool
) -> list[tuple[int, int, bytes]]:
    """(start, end, new bytes) of each replaced or inserted element and of each group length they change."""
    edits = []
    growth: dict[int, int] = defaultdict(int)
    end_of_data = spans[-1].end if spans else len(buf)
    for tag in sorted(encoded):
        data = encoded[tag]
        span = by_tag.get(tag)
        if span is not None:
            edits.append((span.start, span.end, data))
            growth[tag >> 16] += len(data) - (span.end - span.start)
        else:
            at = next((s.start for s in spans if s.tag > tag), end_of_data)
            edits.append((at, at, data))
            growth[tag >> 16] += len(data)
    for group, change in growth.items():
        length = by_tag.get(group << 16)
        if length is not None and change:
            value_format = "<L" if little else ">L"
            (old,) = struct.unpack(value_format, buf[length.end - 4 : length.end])
            head = bytes(buf[length.start : length.end - 4])
            edits.append((length.start, length.end, head + struct.pack(value_format, old + change)))
    # Insertions before an element come before its replacement; equal starts keep tag order.
    return sorted(edits, key=lambda edit: (edit[0], edit[1]))


def _encodings(buf: bytes, charset: ElementSpan | None) -> list[str]:
    """The Python encodings of the file's Specific Character Set; ASCII alone when it declares none."""
    if charset is None:
        return ["ascii"]
    text = bytes(buf[charset.start + _SHORT_HEADER : charset.end]).decode("ascii", "replace")
    values = [value.strip(" \0") for value in text.split("\\")]
    if not any(values):
        return ["ascii"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_encodings(values)


def _encoded(
    elem: DataElement, implicit: bool = False, little: bool = True, encodings: list[str] | None = None
) -> bytes:
    """``elem`` as its bytes in a file; UnencodableValue when the encodings cannot hold its value."""
    fp = DicomBytesIO()
    fp.is_implicit_VR = implicit
    fp.is_little_endian = little
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_data_element(fp, elem, encodings or ["ascii"])
    if any(str(warning.message).startswith(_UNENCODABLE_WARNING) for warning in caught):
        raise UnencodableValue(f"The value of ({elem.tag.group:04x},{elem.tag.element:04x}) cannot be encoded.")
    return fp.getvalue()


def _entries(charset_bytes: bytes, encoded: dict[int, bytes], implicit: bool, little: bool) -> dict[str, str]:
    """The DICOM JSON of each encoded element, read back from its bytes as the store path reads a file."""
    raw = charset_bytes + b"".join(encoded[tag] for tag in sorted(encoded))
    read = read_dataset(BytesIO(raw), implicit, little)
    exclude = {_SPECIFIC_CHARACTER_SET} if charset_bytes else set()
    return top_level_entries(dataset_to_dicom_json(read, exclude=exclude).decode())


def _copy(out: BinaryIO | _Deflating, buf: bytes, start: int, end: int) -> None:
    for position in range(start, end, _COPY_BYTES):
        out.write(buf[position : min(end, position + _COPY_BYTES)])
