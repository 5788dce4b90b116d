"""Transcoding instances and frames between the transfer syntaxes Azure converts (spec §4.2, §4.4).

Sources: the uncompressed syntaxes, deflated, JPEG (baseline, extended, lossless), JPEG-LS,
JPEG 2000 and RLE. Targets: Explicit VR Little Endian and JPEG 2000 lossless. Compressed data is
decoded with pydicom's pixel backends (pylibjpeg and its plugins); colour is decoded to RGB. JPEG 2000
is encoded with OpenJPEG through Pillow, with as many wavelet decompositions as the image's size allows, so
that images of any size down to one pixel are encoded (colour of more than 8 bits through imagecodecs).
"""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import as_pixel_options, get_decoder, pack_bits
from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from .pixel_errors import TranscodeError

UNCOMPRESSED_SOURCES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)
# JPEG baseline, extended and lossless; JPEG-LS; JPEG 2000 (Part 1 only); RLE.
COMPRESSED_SOURCES = frozenset(
    {*JPEGTransferSyntaxes, *JPEGLSTransferSyntaxes, JPEG2000Lossless, JPEG2000, RLELossless}
)
TRANSCODABLE_SOURCES = UNCOMPRESSED_SOURCES | COMPRESSED_SOURCES
TARGETS = frozenset({ExplicitVRLittleEndian, JPEG2000Lossless})
_WORD_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}
_JPEG_2000_SAMPLE_BITS = (8, 16)  # BitsAllocated that JPEG 2000 lossless holds here
_MOST_DECOMPOSITIONS = 32  # OpenJPEG's limit


def transcode(data: bytes, target: str) -> bytes:
    """The Part 10 file ``data`` re-encoded in ``target``, one of :data:`TARGETS`.

    Returns ``data`` itself when it is already in ``target``. Raises TranscodeError for other
    targets, for sources outside :data:`TRANSCODABLE_SOURCES`, and for files that cannot be
    parsed, decoded or encoded.
    """
    if target == ExplicitVRLittleEndian:
        return to_explicit_vr_little_endian(data)
    if target == JPEG2000Lossless:
        return to_jpeg_2000_lossless(data)
    raise TranscodeError(f"Transcoding to {target} is not supported.")


def to_explicit_vr_little_endian(data: bytes) -> bytes:
    """The Part 10 file ``data`` re-encoded as Explicit VR Little Endian, pixel values unchanged.

    Compressed pixel data is decoded (colour to RGB, planar configuration 0). Raises
    TranscodeError for sources outside :data:`TRANSCODABLE_SOURCES` and files that cannot be
    parsed or decoded.
    """
    ds, source = _read(data)
    if source == ExplicitVRLittleEndian:
        return data
    try:
        if source in COMPRESSED_SOURCES:
            ds.decompress(generate_instance_uid=False)
        else:
            if source == ExplicitVRBigEndian:
                _swap_words(ds, ds.get("BitsAllocated", 16))
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        return _write(ds)
    except Exception as exc:  # untrusted data that defeats a decoder or cannot be written in the new syntax
        raise TranscodeError(f"The file cannot be re-encoded: {exc}") from exc


def to_jpeg_2000_lossless(data: bytes) -> bytes:
    """The Part 10 file ``data`` with its pixel data encoded as JPEG 2000 lossless, every frame.

    Raises TranscodeError as :func:`to_explicit_vr_little_endian` does, and for pixel data that
    JPEG 2000 cannot hold (e.g. 1-bit or 32-bit samples).
    """
    _, source = _read(data)
    if source == JPEG2000Lossless:
        return data
    ds, _ = _read(to_explicit_vr_little_endian(data))
    try:
        description = as_pixel_options(ds)
        pixels = ds.pixel_array
        if int(description.get("number_of_frames", 1) or 1) == 1:
            pixels = pixels[np.newaxis]
        frames = [jpeg_2000_lossless_frame(frame, description) for frame in pixels]
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        if "PlanarConfiguration" in ds:
            ds.PlanarConfiguration = 0
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        return _write(ds)
    except Exception as exc:  # the encoder refuses the pixel description, or the data
        raise TranscodeError(f"The pixel data cannot be encoded as JPEG 2000: {exc}") from exc


def jpeg_2000_lossless_frame(pixels: np.ndarray, description: dict) -> bytes:
    """One frame (rows x columns, samples last) as a reversible JPEG 2000 codestream, its samples' sign kept and
    colour untransformed; raises ValueError for samples JPEG 2000 does not hold here.

    Monochrome frames and 8-bit colour carry as many wavelet decompositions as the image allows
    (:func:`jpeg_2000_decompositions`: 1x1 none, 8x9 three, 512x512 nine), coded by OpenJPEG through Pillow
    at the precision of their allocation (8 or 16 bits), which holds every value of a smaller Bits Stored.
    Colour of more bits, which Pillow does not hold, is coded by OpenJPEG through imagecodecs at its Bits
    Stored, with the decompositions imagecodecs sets (log2 of the smaller side less three, up to five).
    """
    bits_allocated = int(description["bits_allocated"])
    if bits_allocated not in _JPEG_2000_SAMPLE_BITS:
        raise ValueError(f"{bits_allocated}-bit samples are not encoded as JPEG 2000.")
    if pixels.ndim == 3 and bits_allocated != 8:
        return bytes(
            imagecodecs.jpeg2k_encode(
                np.ascontiguousarray(pixels),
                codecformat="J2K",
                bitspersample=int(description["bits_stored"]),
                reversible=True,
                mct=False,
                numthreads=1,
            )
        )
    signed = bool(int(description.get("pixel_representation", 0)))
    width = bits_allocated // 8
    samples = pixels.astype(f"<{'i' if signed else 'u'}{width}", copy=False)  # Pillow takes the bits unsigned
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(samples).view(f"<u{width}")).save(
        out,
        format="JPEG2000",
        no_jp2=True,
        num_resolutions=1 + jpeg_2000_decompositions(*pixels.shape[:2]),
        irreversible=False,
        mct=0,
        signed=signed,
    )
    return out.getvalue()


def jpeg_2000_decompositions(rows: int, columns: int) -> int:
    """The most wavelet decompositions an image of this size takes: each resolution keeps a sample on both
    axes (floor(log2) of the smaller side), within OpenJPEG's limit of 32."""
    return min(_MOST_DECOMPOSITIONS, min(rows, columns).bit_length() - 1)


def _read(data: bytes) -> tuple[Dataset, UID]:
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        source = ds.file_meta.TransferSyntaxUID
        for _ in ds.iterall():  # reads every raw element, so that each has its VR before writing
            pass
    except Exception as exc:
        raise TranscodeError(f"The file cannot be parsed: {exc}") from exc
    if source not in TRANSCODABLE_SOURCES:
        raise TranscodeError(f"Transcoding from {source} is not supported.")
    return ds, source


def _write(ds: Dataset) -> bytes:
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return out.getvalue()


def _swap_words(ds: Dataset, bits_allocated: int) -> None:
    """Turns big-endian binary values (OW, OF, OL, OD, OV) into little endian, in place."""
    for element in ds.iterall():
        if element.VR not in _WORD_SIZES or not isinstance(element.value, bytes):
            continue
        width = _WORD_SIZES[element.VR]
        if element.tag == 0x7FE00010 and bits_allocated > 8:
            width = bits_allocated // 8
        usable = len(element.value) - len(element.value) % width
        swapped = np.frombuffer(element.value[:usable], dtype=f">u{width}").astype(f"<u{width}").tobytes()
        element.value = swapped + element.value[usable:]


# -- frames -------------------------------------------------------------------------------------


def decode_frame(header: Dataset, frame: bytes, transfer_syntax: str, pixel_vr: str = "") -> tuple[np.ndarray, dict]:
    """The pixels of one frame given as its bytes in ``transfer_syntax`` (native or one codestream).

    ``header`` describes the pixels (Rows, Columns, BitsAllocated, ...). Colour is returned as
    RGB. Also returns the pixel description of the array (pydicom's decoding options). Raises
    TranscodeError when the syntax is not one Azure decodes or the frame cannot be decoded.
    """
    syntax = UID(transfer_syntax)
    if syntax not in TRANSCODABLE_SOURCES:
        raise TranscodeError(f"Decoding {transfer_syntax} is not supported.")
    try:
        options = as_pixel_options(header, number_of_frames=1)
        if syntax.is_encapsulated:
            source: bytes = encapsulate([frame])
        else:
            source = frame
            if syntax == DeflatedExplicitVRLittleEndian:  # the frame comes from the inflated data set
                syntax = ExplicitVRLittleEndian
            options["pixel_keyword"] = "PixelData"
            options["pixel_vr"] = pixel_vr or ("OW" if int(options.get("bits_allocated", 8)) > 8 else "OB")
        return get_decoder(syntax).as_array(source, index=0, **options)
    except Exception as exc:  # untrusted bytes and descriptions: any decoder failure
        raise TranscodeError(f"The frame cannot be decoded: {exc}") from exc


def transcode_frame(header: Dataset, frame: bytes, source: str, target: str, pixel_vr: str = "") -> bytes:
    """One frame re-encoded in ``target``: native little endian pixels, or a JPEG 2000 lossless codestream.

    Raises TranscodeError for other targets and for frames that cannot be decoded or encoded.
    """
    if target not in TARGETS:
        raise TranscodeError(f"Transcoding to {target} is not supported.")
    pixels, description = decode_frame(header, frame, source, pixel_vr)
    try:
        if target == ExplicitVRLittleEndian:
            if int(description["bits_allocated"]) == 1:
                return pack_bits(pixels)
            return pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
        return jpeg_2000_lossless_frame(pixels, description)
    except Exception as exc:  # the encoder refuses the pixel description, or the data
        raise TranscodeError(f"The frame cannot be encoded: {exc}") from exc
