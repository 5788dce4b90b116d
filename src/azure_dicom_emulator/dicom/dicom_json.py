"""DICOM JSON (PS3.18 Annex F.2) encoding of a dataset, as stored for an instance's metadata.

Elements are read without letting pydicom convert them, so string values keep what the file
holds (a value stored as ``X\\0`` stays ``X\\0``); only the DICOM padding is removed: trailing
spaces, and trailing NULs of UI values. Character sets are applied with pydicom's decoder.

The element helpers (`iter_elements`, `element_vr`, `load_element`, `dataset_encodings`,
`string_values`) are shared with the STOW validation rules, which must judge the values that get stored.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Collection, Iterator, MutableSequence
from functools import lru_cache
from json.encoder import encode_basestring
from operator import itemgetter

from pydicom.charset import convert_encodings, decode_bytes, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

from .value_memo import Element, ValueMemo

__all__ = [
    "BINARY_SIZES",
    "BULK_VRS",
    "Element",
    "dataset_encodings",
    "dataset_to_dicom_json",
    "element_vr",
    "iter_elements",
    "load_element",
    "string_values",
]


BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
"""VRs left out of the metadata at every nesting level."""

_BINARY_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "UV": "Q", "SV": "q", "FL": "f", "FD": "d"}
_BINARY_FORMATS["AT"] = "H"  # read as (group, element) pairs
BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "UV": 8, "SV": 8, "FL": 4, "FD": 8, "AT": 4}
"""Size in bytes of one value of each binary VR."""

_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT", "PN"})
_SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})
_TEXT_DELIMS = TEXT_VR_DELIMS | {0x5C}
_NAME_DELIMS = PN_DELIMS | {0x3D, 0x5C}
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
_ESC = 0x1B
_MULTIPLE = (MutableSequence, tuple)
_NO_TAGS: frozenset[int] = frozenset()

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NON_FINITE = {math.inf: '"Infinity"', -math.inf: '"-Infinity"'}

_KEYS: dict[int, str] = {}
"""Memo of the JSON text that opens each tag's entry; tags repeat from instance to instance."""
_MAX_KEYS = 1 << 16


def dataset_to_dicom_json(ds: Dataset, exclude: Collection[int] = ()) -> bytes:
    """Return the UTF-8 DICOM JSON object of `ds` (its file meta is not part of it).

    Promises:

    * keys are 8 uppercase hex digits, in ascending tag order; each element is
      ``{"vr": VR, "Value": [...]}``, or just ``{"vr": VR}`` when it has no value;
    * group 0x0002 and group length (gggg,0000) elements, elements with a bulk VR
      (`BULK_VRS`, at every level) and the top-level tags in `exclude` are left out;
      VRs are those of `iter_elements`, so implicit-VR private elements other than
      private creators count as UN, and standard elements encoded as UN get their own VR;
    * IS values are JSON integers, DS values JSON numbers (written as stored when the text
      is already a JSON number); a value that is not a (finite) number stays a JSON string;
    * floats that are NaN or infinite are written as the strings ``"NaN"``, ``"Infinity"``
      and ``"-Infinity"`` (JSON has no such numbers; pydicom reads these strings back);
    * AT values are 8-hex-digit strings, PN values objects with only their non-empty
      ``Alphabetic`` / ``Ideographic`` / ``Phonetic`` groups, SQ values arrays of objects;
    * an empty value inside a multi-valued element is ``null``.
    """
    parts: list[str] = []
    _write_dataset(ds, [default_encoding], frozenset(exclude), parts)
    return "".join(parts).encode("utf-8")


def iter_elements(ds: Dataset) -> Iterator[tuple[int, Element, str]]:
    """Yield ``(tag, element, vr)`` for the elements of `ds`, in tag order, unconverted.

    Group 0x0002 and group length elements are skipped. The VR is the encoded one; when
    that is missing (implicit VR) or UN, the dictionary's: private creators are LO, other
    private elements and unknown tags UN. Ambiguous VRs are resolved: OB/OW choices count
    as OW, US/SS follows PixelRepresentation.
    """
    tags = list(map(int, ds.keys()))
    pairs = zip(tags, ds.values(), strict=True)
    if tags != sorted(tags):
        pairs = sorted(pairs, key=itemgetter(0))
    for tag, elem in pairs:
        if not tag & 0xFFFF or tag >> 16 == 0x0002:
            continue
        vr = elem.VR
        if vr is None or vr == "UN" or len(vr) != 2:
            vr = _resolve_vr(ds, tag, vr)
        yield tag, elem, vr


def element_vr(ds: Dataset, tag: int, elem: Element) -> str:
    """Return the VR of element `tag` of `ds`, resolved as `iter_elements` does."""
    vr = elem.VR
    if vr is None or vr == "UN" or len(vr) != 2:
        return _resolve_vr(ds, tag, vr)
    return vr


def load_element(ds: Dataset, elem: Element, vr: str) -> Element:
    """Return `elem` with its value available: deferred values are read, sequences parsed.

    Other raw elements are returned as they are, so that their bytes can be decoded
    without pydicom's value conversion.
    """
    if isinstance(elem, RawDataElement) and (vr == "SQ" or (elem.value is None and elem.length)):
        return ds[elem.tag]
    return elem


def dataset_encodings(ds: Dataset, inherited: list[str]) -> list[str]:
    """Return the Python encodings of `ds`'s Specific Character Set, else `inherited`."""
    charset = ds.get(0x00080005)
    if charset is None or not charset.value:
        return inherited
    return convert_encodings(charset.value)


def string_values(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    """Return the values of a string-VR element, padding removed; ``[]`` when it has none.

    Raw bytes are decoded with `encodings` (for the VRs that use the Specific Character
    Set) and keep everything but the padding: trailing spaces, or trailing NULs for UI.
    """
    value = elem.value
    if isinstance(value, bytes):
        if vr in _CHARSET_VRS and (not value.isascii() or _ESC in value):
            text = decode_bytes(value, encodings, _NAME_DELIMS if vr == "PN" else _TEXT_DELIMS)
        else:
            text = value.decode("latin-1")
        text = text.rstrip("\0") if vr == "UI" else text.rstrip(" ")
    elif value is None:
        return []
    elif isinstance(value, str):
        text = value
    elif isinstance(value, _MULTIPLE):
        text = "\\".join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    if not text:
        return []
    if vr in _SINGLE_VALUED_VRS:
        return [text]
    return text.split("\\")


def _resolve_vr(ds: Dataset, tag: int, vr: str | None) -> str:
    if vr is None or vr == "UN":
        if tag >> 16 & 1:
            return "LO" if 0x0010 <= tag & 0xFFFF <= 0x00FF else "UN"
        vr = _dictionary_vr(tag)
        if len(vr) == 2:
            return vr
    if "OB" in vr or "OW" in vr:
        return "OW"
    pixel_representation = ds.get(0x00280103)
    return "SS" if pixel_representation is not None and pixel_representation.value == 1 else "US"


@lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _write_dataset(ds: Dataset, inherited: list[str], exclude: frozenset[int], parts: list[str]) -> None:
    encodings = dataset_encodings(ds, inherited)
    separator = "{"
    for tag, elem, vr in iter_elements(ds):
        if vr in BULK_VRS or tag in exclude:
            continue
        if vr == "SQ" or elem.value is None:
            elem = load_element(ds, elem, vr)
        parts.append(separator)
        parts.append(_KEYS.get(tag) or _key(tag))
        parts.append(vr)
        parts.append('"')
        separator = ","
        if vr == "SQ":
            _write_sequence(elem.value, encodings, parts)
        else:
            values = _json_values(elem, vr, encodings)
            if values:
                parts.append(f',"Value":[{",".join(values)}]')
        parts.append("}")
    parts.append("{}" if separator == "{" else "}")


def _key(tag: int) -> str:
    key = f'"{tag:08X}":{{"vr":"'
    if len(_KEYS) < _MAX_KEYS:
        _KEYS[tag] = key
    return key


def _write_sequence(items: list[Dataset] | None, encodings: list[str], parts: list[str]) -> None:
    if not items:
        return
    parts.append(',"Value":[')
    for index, item in enumerate(items):
        if index:
            parts.append(",")
        _write_dataset(item, encodings, _NO_TAGS, parts)
    parts.append("]")


def _text_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [encode_basestring(v) if v else "null" for v in string_values(elem, vr, encodings)]


def _person_name_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [_person_name(v) for v in string_values(elem, vr, encodings)]


def _person_name(value: str) -> str:
    groups = [
        f'"{name}":{encode_basestring(group)}'
        for name, group in zip(_PN_GROUPS, value.split("="), strict=False)
        if group
    ]
    return "{" + ",".join(groups) + "}" if groups else "null"


def _decimal_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [_decimal(v) for v in string_values(elem, vr, encodings)]


def _decimal(value: str) -> str:
    text = value.strip(" ")
    if not text:
        return "null"
    if not _DECIMAL.fullmatch(text) or not math.isfinite(number := float(text)):
        return encode_basestring(value)
    return text if _JSON_NUMBER.fullmatch(text) else repr(number)


def _integer_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [_integer(v) for v in string_values(elem, vr, encodings)]


def _integer(value: str) -> str:
    text = value.strip(" ")
    if not text:
        return "null"
    return str(int(text)) if _INTEGER.fullmatch(text) else encode_basestring(value)


def _numbers(elem: Element, vr: str) -> list:
    value = elem.value
    if isinstance(value, bytes):
        count = len(value) // BINARY_SIZES[vr] * (2 if vr == "AT" else 1)
        order = "<" if elem.VR == "UN" or getattr(elem, "is_little_endian", True) else ">"
        return list(struct.unpack_from(f"{order}{count}{_BINARY_FORMATS[vr]}", value))
    if value is None or value == "":
        return []
    if isinstance(value, _MULTIPLE):
        return list(value)
    return [value]


def _integers_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [str(int(n)) for n in _numbers(elem, vr)]


def _doubles_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [repr(float(n)) if math.isfinite(n) else _non_finite(n) for n in _numbers(elem, vr)]


def _floats_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return [_float32(n) if math.isfinite(n) else _non_finite(n) for n in _numbers(elem, vr)]


def _non_finite(number: float) -> str:
    return _NON_FINITE.get(number, '"NaN"')


def _float32(number: float) -> str:
    """Return the shortest text that reads back as the same 32-bit float."""
    for digits in (6, 7, 8):
        text = f"{number:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == number:
            return text
    return f"{number:.9g}"


def _tags_json(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    numbers = _numbers(elem, vr)
    if isinstance(elem.value, bytes):
        return [f'"{numbers[i]:04X}{numbers[i + 1]:04X}"' for i in range(0, len(numbers) - 1, 2)]
    return [f'"{int(tag):08X}"' for tag in numbers]


def _write_values(elem: Element, vr: str, encodings: list[str]) -> list[str]:
    return _VALUE_WRITERS.get(vr, _text_json)(elem, vr, encodings)


_json_values = ValueMemo(_write_values)
"""The JSON texts of an element's values, each list shared: never to be changed."""

_VALUE_WRITERS = {
    "PN": _person_name_json,
    "DS": _decimal_json,
    "IS": _integer_json,
    "AT": _tags_json,
    "US": _integers_json,
    "SS": _integers_json,
    "UL": _integers_json,
    "SL": _integers_json,
    "UV": _integers_json,
    "SV": _integers_json,
    "FL": _floats_json,
    "FD": _doubles_json,
}
