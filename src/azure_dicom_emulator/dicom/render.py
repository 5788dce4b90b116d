"""Rendering one decoded frame as a JPEG or PNG image for display (spec §4.5).

Grey-scale frames go through the Modality LUT (RescaleSlope/RescaleIntercept or a Modality LUT
Sequence), then the VOI LUT: the first WindowCenter/WindowWidth (PS3.3 C.11.2.1.2), else a VOI
LUT Sequence, else the frame's own minimum and maximum; MONOCHROME1 is inverted. Colour frames
(RGB, YBR decoded to RGB, palette colour through its lookup tables) are scaled to 8 bits. The
image has the frame's Rows x Columns.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi

from .pixel_errors import RenderError

JPEG = "image/jpeg"
PNG = "image/png"


def render(header: Dataset, pixels: np.ndarray, description: dict, media_type: str, quality: int) -> bytes:
    """The frame ``pixels`` (as decoded, described by ``description``) as a ``media_type`` image.

    ``header`` holds the display attributes (rescale, window, LUTs); ``quality`` (1..100) applies
    to JPEG. Raises RenderError when the frame cannot be displayed.
    """
    try:
        image = Image.fromarray(_display_values(header, pixels, description))
        out = io.BytesIO()
        if media_type == JPEG:
            image.save(out, "JPEG", quality=quality)
        else:
            image.save(out, "PNG", compress_level=1)
        return out.getvalue()
    except RenderError:
        raise
    except Exception as exc:  # untrusted attributes that defeat a LUT or the encoder
        raise RenderError(f"The frame cannot be rendered: {exc}") from exc


def _display_values(header: Dataset, pixels: np.ndarray, description: dict) -> np.ndarray:
    photometric = str(description.get("photometric_interpretation", ""))
    if int(description.get("samples_per_pixel", 1)) == 3:
        return _to_8_bits(pixels, int(description["bits_stored"]))
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, header)
        return _to_8_bits(rgb, 16 if rgb.dtype.itemsize > 1 else 8)
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise RenderError(f"Photometric interpretation {photometric!r} cannot be displayed.")
    linear = _linear_display(header, photometric)
    if linear is not None:  # the common case in one pass: display = stored x gain + offset, clipped
        gain, offset = linear
        values = pixels.astype(np.float32)
        values *= gain
        values += offset
        np.clip(values, 0.0, 255.0, out=values)
        return values.astype(np.uint8)
    ends = modality(header, np.array([pixels.min(), pixels.max()]))
    value_range = (float(ends.min()), float(ends.max()))
    if pixels.dtype.kind in "iu" and pixels.dtype.itemsize <= 2:
        # One table entry per possible stored value: far cheaper than computing every pixel.
        limits = np.iinfo(pixels.dtype)
        table = _grey_levels(header, np.arange(limits.min, limits.max + 1, dtype=np.int32), photometric, value_range)
        unsigned = pixels.view(f"u{pixels.dtype.itemsize}")
        if pixels.dtype.kind == "i":  # the sign bit flipped orders signed values from the table's first entry
            unsigned = unsigned ^ np.array(-limits.min, dtype=unsigned.dtype)
        return np.take(table, unsigned)
    return _grey_levels(header, pixels, photometric, value_range)


def _grey_levels(header: Dataset, stored: np.ndarray, photometric: str, value_range: tuple[float, float]) -> np.ndarray:
    grey = voi(header, modality(header, stored), value_range)
    if photometric == "MONOCHROME1":
        grey = 1.0 - grey
    return np.floor(grey * 255.0 + 0.5).astype(np.uint8)


def _linear_display(header: Dataset, photometric: str) -> tuple[float, float] | None:
    """Gain and offset taking a stored value straight to its display level (rounded by truncation), when
    rescale and a LINEAR or LINEAR_EXACT window are all there is; None otherwise."""
    center = _first_number(header, "WindowCenter", None)
    width = _first_number(header, "WindowWidth", None)
    function = str(header.get("VOILUTFunction") or "LINEAR").upper()
    if header.get("ModalityLUTSequence") or center is None or width is None or width <= 0:
        return None
    if function == "LINEAR":
        center, width = center - 0.5, width - 1.0
    elif function != "LINEAR_EXACT":
        return None
    if width <= 0:
        return None
    slope = _first_number(header, "RescaleSlope", 1.0)
    intercept = _first_number(header, "RescaleIntercept", 0.0)
    # display = 255 * ((stored * slope + intercept - center) / width + 0.5), and + 0.5 to round
    gain = 255.0 * slope / width
    offset = 255.0 * ((intercept - center) / width + 0.5)
    if photometric == "MONOCHROME1":
        return -gain, 255.5 - offset
    return gain, offset + 0.5


def _to_8_bits(values: np.ndarray, bits: int) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    shift = max(0, bits - 8)
    return np.clip(values.astype(np.int64) >> shift, 0, 255).astype(np.uint8)


def modality(header: Dataset, pixels: np.ndarray) -> np.ndarray:
    """Stored values turned into modality values: the Modality LUT Sequence, else rescale slope and intercept."""
    if header.get("ModalityLUTSequence"):
        return apply_modality_lut(pixels, header).astype(np.float32)
    slope = _first_number(header, "RescaleSlope", 1.0)
    intercept = _first_number(header, "RescaleIntercept", 0.0)
    values = pixels.astype(np.float32)
    if slope != 1.0:
        values *= slope
    if intercept:
        values += intercept
    return values


def voi(header: Dataset, values: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Modality values mapped to display values in [0, 1]; without a window or VOI LUT, ``value_range``
    (the frame's lowest and highest modality values) spans [0, 1]."""
    center = _first_number(header, "WindowCenter", None)
    width = _first_number(header, "WindowWidth", None)
    if center is not None and width is not None and width > 0:
        function = str(header.get("VOILUTFunction") or "LINEAR").upper()
        return window(values, center, width, function)
    if header.get("VOILUTSequence"):
        item = header.VOILUTSequence[0]
        top = 2 ** int(item.LUTDescriptor[2]) - 1
        return np.clip(apply_voi(values, header).astype(np.float32) / top, 0.0, 1.0)
    low, high = value_range
    if high <= low:
        return np.zeros(values.shape, np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """The VOI windowing of PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.2 (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID),
    to [0, 1]."""
    if function == "SIGMOID":
        return (1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))).astype(np.float32)
    if function != "LINEAR_EXACT":
        center, width = center - 0.5, width - 1.0
    if width <= 0:
        return (values > center).astype(np.float32)
    return np.clip((values - center) / width + 0.5, 0.0, 1.0)


def _first_number(header: Dataset, keyword: str, default: float | None) -> float | None:
    try:
        value = header.get(keyword)
        if isinstance(value, MultiValue):
            value = value[0] if len(value) else None
        return default if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return default
