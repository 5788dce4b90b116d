"""The frame index: where each frame of a file's pixel data lies, so that a frame is a ranged read.

Native (uncompressed) pixel data holds its frames one after the other, each
``Rows x Columns x SamplesPerPixel x BitsAllocated`` bits long; 1-bit frames may start inside a
byte. Encapsulated pixel data holds a Basic Offset Table item and then fragments; a frame is one
or more consecutive fragments, told apart by the Extended Offset Table, the Basic Offset Table,
or the start markers of the codestreams (PS3.5 A.4).
"""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from .part10 import PixelDataLocation

_ITEM = 0xE000FFFE
_SEQUENCE_DELIMITER = 0xE0DDFFFE
_ITEM_HEADER = 8
# Bytes a codestream starts with: JPEG (SOI), JPEG 2000 codestream (SOC SIZ), JP2 signature box.
_CODESTREAM_STARTS = (b"\xff\xd8", b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")
_START_BYTES = max(len(start) for start in _CODESTREAM_STARTS)
# What decoding and displaying a frame needs, unless one of _NEEDS_HEADER is present.
_DESCRIBED = (
    "Rows",
    "Columns",
    "SamplesPerPixel",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "NumberOfFrames",
    "RescaleSlope",
    "RescaleIntercept",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
)
_TEXT_KEYWORDS = frozenset({"PhotometricInterpretation", "VOILUTFunction"})
_DESCRIBED_KEYS = tuple((keyword, f"{tag_for_keyword(keyword):08X}") for keyword in _DESCRIBED)
_NEEDS_HEADER_TAGS = tuple(
    tag_for_keyword(keyword)
    for keyword in (
        "ModalityLUTSequence",
        "VOILUTSequence",
        "RedPaletteColorLookupTableDescriptor",
        "SegmentedRedPaletteColorLookupTableData",
        "ICCProfile",
    )
)


@dataclass(frozen=True)
class FrameIndex:
    """Where every frame of an instance's pixel data lies.

    ``frames[i]`` lists the byte ranges of frame ``i + 1`` as flat ``(offset, length, ...)`` pairs,
    in order. An instance without pixel data, or whose frames cannot be told apart, has no frames.
    """

    frames: tuple[tuple[int, ...], ...]
    frame_bits: int | None = None
    """For 1-bit pixel data whose frames do not start on byte boundaries: the bits in one frame."""
    inflated: bool = False
    """True when offsets are into the inflated pixel data value (deflated files), not into the file."""
    pixel_vr: str = ""
    """The VR the pixel data was written with ("OB", "OW", or "" for implicit VR)."""
    pixels: dict | None = None
    """The attributes that decoding and displaying a frame need (see :func:`describe_pixels`)."""

    @property
    def count(self) -> int:
        """How many frames the index knows."""
        return len(self.frames)

    def ranges(self, number: int) -> list[tuple[int, int]]:
        """The (offset, length) byte ranges of frame ``number`` (1-based)."""
        flat = self.frames[number - 1]
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]

    def size(self, number: int) -> int:
        """How many bytes frame ``number`` (1-based) spans in the file."""
        flat = self.frames[number - 1]
        return sum(flat[1::2])

    def to_json(self) -> str:
        """The index as compact JSON, as the instance row stores it."""
        data: dict = {"frames": [list(frame) for frame in self.frames]}
        if self.frame_bits is not None:
            data["frame_bits"] = self.frame_bits
        if self.inflated:
            data["inflated"] = True
        if self.pixel_vr:
            data["vr"] = self.pixel_vr
        if self.pixels is not None:
            data["pixels"] = self.pixels
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> FrameIndex:
        """The index that :meth:`to_json` wrote."""
        data = json.loads(text)
        return cls(
            frames=tuple(tuple(frame) for frame in data["frames"]),
            frame_bits=data.get("frame_bits"),
            inflated=data.get("inflated", False),
            pixel_vr=data.get("vr", ""),
            pixels=data.get("pixels"),
        )

    def with_pixels(self, ds: Dataset, metadata: Mapping[str, dict]) -> FrameIndex:
        """This index, with the pixel description of ``ds`` (see :func:`describe_pixels`)."""
        return FrameIndex(self.frames, self.frame_bits, self.inflated, self.pixel_vr, describe_pixels(ds, metadata))


@functools.lru_cache(maxsize=256)
def load_index(text: str) -> FrameIndex:
    """The index that :meth:`FrameIndex.to_json` wrote as ``text``, shared by the callers that pass the same text.

    Every frame of an instance is read with the same index: parsed once, not once per frame.
    """
    return FrameIndex.from_json(text)


def describe_pixels(ds: Dataset, metadata: Mapping[str, dict]) -> dict | None:
    """The image pixel, rescale and window attributes of ``ds`` by keyword, as JSON values.

    The values are those of ``metadata``, the DICOM JSON of ``ds`` (``dicom.dicom_json``). None
    when a frame needs more of the header to be shown (lookup table sequences, palettes, an ICC
    profile) or when a value that should be a number is not one.
    """
    if any(tag in ds for tag in _NEEDS_HEADER_TAGS):
        return None
    described: dict = {}
    for keyword, key in _DESCRIBED_KEYS:
        values = metadata.get(key, {}).get("Value")
        if not values or values == [None]:
            continue
        if keyword in _TEXT_KEYWORDS and len(values) == 1 and isinstance(values[0], str):
            described[keyword] = values[0]
        elif all(isinstance(value, int | float) for value in values):
            numbers = [_json_number(value) for value in values]
            described[keyword] = numbers[0] if len(numbers) == 1 else numbers
        else:
            return None
    return described


def header_of(description: dict) -> Dataset:
    """A data set holding the attributes of a pixel description."""
    ds = Dataset()
    for keyword, value in description.items():
        setattr(ds, keyword, value)
    return ds


def _json_number(value: object) -> int | float:
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() else number


NO_FRAMES = FrameIndex(frames=())


def index_frames(ds: Dataset, buf: bytes | memoryview, location: PixelDataLocation | None) -> FrameIndex:
    """The frame index of the file in ``buf`` whose header is ``ds`` and whose pixel data is at ``location``.

    Never raises for bad values: an instance whose frames cannot be located gets an index without frames.
    """
    if location is None:
        return NO_FRAMES
    try:
        if location.length is None:
            return _encapsulated(ds, buf, location.value_offset)
        # Big endian OW holds 8-bit pixels in swapped byte pairs: a frame is only readable as whole words.
        words = location.vr == "OW" and not ds.file_meta.TransferSyntaxUID.is_little_endian
        return native_frames(ds, location.value_offset, location.length, pixel_vr=location.vr, whole_words=words)
    except Exception:  # untrusted values: frames that cannot be located are no frames
        return NO_FRAMES


def native_frames(
    ds: Dataset,
    value_offset: int,
    value_length: int,
    pixel_vr: str = "",
    inflated: bool = False,
    whole_words: bool = False,
) -> FrameIndex:
    """The index of native pixel data whose value of ``value_length`` bytes starts at ``value_offset``.

    Only whole frames are indexed: a value shorter than NumberOfFrames frames indexes what it holds.
    With ``whole_words`` each range is widened to whole 16-bit words of the value. Raises ValueError
    (or another error of reading ``ds``) when the pixel description is unusable.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples, bits = int(ds.get("SamplesPerPixel", 1)), int(ds.BitsAllocated)
    if samples == 3 and ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        samples = 2  # two chroma samples are shared by each pair of pixels (PS3.3 C.7.6.3.1.2)
    count = number_of_frames(ds)
    frame_bits = rows * columns * samples * bits
    if frame_bits <= 0:
        raise ValueError("The pixel description gives empty frames.")
    available = min(count, value_length * 8 // frame_bits)
    frames = []
    for number in range(available):
        first_byte = number * frame_bits // 8
        end_byte = -(-(number + 1) * frame_bits // 8)
        if whole_words:
            first_byte, end_byte = first_byte - first_byte % 2, min(value_length, end_byte + end_byte % 2)
        frames.append((value_offset + first_byte, end_byte - first_byte))
    return FrameIndex(
        frames=tuple(frames),
        frame_bits=frame_bits if frame_bits % 8 else None,
        inflated=inflated,
        pixel_vr=pixel_vr,
    )


def number_of_frames(ds: Dataset) -> int:
    """NumberOfFrames, 1 when absent; raises ValueError when it is not a positive number."""
    value = ds.get("NumberOfFrames")
    count = 1 if value in (None, "") else int(value)
    if count < 1:
        raise ValueError("NumberOfFrames is not positive.")
    return count


def _encapsulated(ds: Dataset, buf: bytes | memoryview, value_offset: int) -> FrameIndex:
    count = number_of_frames(ds)
    basic_offsets, fragments = _items(buf, value_offset)
    if not fragments:
        return NO_FRAMES
    base = fragments[0][0]
    starts = _frame_starts(ds, buf, basic_offsets, fragments, count, base)
    if starts is None:
        return NO_FRAMES
    frames = []
    for first, last in zip(starts, [*starts[1:], len(fragments)], strict=True):
        flat: list[int] = []
        for item_offset, length in fragments[first:last]:
            flat += [item_offset + _ITEM_HEADER, length]
        frames.append(tuple(flat))
    return FrameIndex(frames=tuple(frames), pixel_vr="OB")


def _items(buf: bytes | memoryview, position: int) -> tuple[list[int], list[tuple[int, int]]]:
    """The Basic Offset Table's offsets and the (item offset, length) of every fragment after it."""
    basic_offsets: list[int] = []
    fragments: list[tuple[int, int]] = []
    first = True
    while position + _ITEM_HEADER <= len(buf):
        tag, length = struct.unpack_from("<LL", buf, position)
        if tag == _SEQUENCE_DELIMITER:
            break
        if tag != _ITEM or position + _ITEM_HEADER + length > len(buf):
            raise ValueError("The encapsulated pixel data holds something other than items.")
        if first:
            basic_offsets = list(struct.unpack_from(f"<{length // 4}L", buf, position + _ITEM_HEADER))
            first = False
        else:
            fragments.append((position, length))
        position += _ITEM_HEADER + length
    return basic_offsets, fragments


def _frame_starts(
    ds: Dataset,
    buf: bytes | memoryview,
    basic_offsets: list[int],
    fragments: list[tuple[int, int]],
    count: int,
    base: int,
) -> list[int] | None:
    """The index of the first fragment of every frame, or None when the frames cannot be told apart."""
    by_offset = {item_offset - base: number for number, (item_offset, _) in enumerate(fragments)}
    for table in (_extended_offsets(ds), basic_offsets):
        if table and len(table) == count:
            starts = [by_offset.get(offset) for offset in table]
            if starts[0] == 0 and None not in starts and starts == sorted(set(starts)):
                return starts
    if count == 1:
        return [0]
    if len(fragments) == count:
        return list(range(count))
    starts = [
        number
        for number, (item_offset, _) in enumerate(fragments)
        if bytes(buf[item_offset + _ITEM_HEADER : item_offset + _ITEM_HEADER + _START_BYTES]).startswith(
            _CODESTREAM_STARTS
        )
    ]
    return starts if len(starts) == count and starts[0] == 0 else None


def _extended_offsets(ds: Dataset) -> list[int]:
    table = ds.get("ExtendedOffsetTable")
    if not isinstance(table, bytes | bytearray) or len(table) % 8:
        return []
    return list(struct.unpack(f"<{len(table) // 8}Q", table))


def read_frame(index: FrameIndex, number: int, read: Callable[[int, int], bytes]) -> bytes:
    """The bytes of frame ``number`` (1-based), read with ``read(offset, length)``.

    A 1-bit frame that starts inside a byte is returned re-packed to start on a byte boundary,
    its last byte padded with zero bits.
    """
    data = b"".join(read(offset, length) for offset, length in index.ranges(number))
    if index.frame_bits is None:
        return data
    return repack_bits(data, (number - 1) * index.frame_bits % 8, index.frame_bits)


def repack_bits(data: bytes, skip: int, bits: int) -> bytes:
    """``bits`` packed bits of ``data`` (least significant bit first) starting after the first ``skip`` bits."""
    value = (int.from_bytes(data, "little") >> skip) & ((1 << bits) - 1)
    return value.to_bytes((bits + 7) // 8, "little")
