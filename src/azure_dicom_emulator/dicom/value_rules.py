"""The rules one value must follow for its VR (PS3.5 §6.2, spec §3, §15).

`minimal_value_problem` is the lenient v1 check of an indexed attribute's first value;
`element_vr_problem` applies the v2 rules (characters, length, date/time/number formats) to
every value of an element. Both judge values as stored, NULs included.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from pydicom.multival import MultiValue

from .dicom_json import BINARY_SIZES, Element, string_values
from .value_memo import ValueMemo

__all__ = ["UID_PATTERN", "binary_count", "element_vr_problem", "is_valid_uid", "minimal_value_problem"]

UID_PATTERN = re.compile(r"[0-9.]{0,63}[0-9]")
"""A UID (spec §15): 1-64 digits and dots, ending with a digit. Use with ``fullmatch``."""

_UID_DETAIL = (
    "DICOM Identifier is invalid. Value length should not exceed the maximum length of 64 characters. "
    "Value should contain characters in '0'-'9' and '.'. Each component must start with non-zero number"
)


def is_valid_uid(value: str) -> bool:
    """Tell whether `value` is a UID (spec §15) once trailing spaces and NULs are trimmed."""
    return UID_PATTERN.fullmatch(value.rstrip(" \0")) is not None


def binary_count(elem: Element, vr: str) -> int | None:
    """The number of values of a binary element; ``None`` when its length is not a multiple."""
    value = elem.value
    if isinstance(value, bytes):
        size = BINARY_SIZES[vr]
        return None if len(value) % size else len(value) // size
    if value is None:
        return 0
    return len(value) if isinstance(value, list | tuple | MultiValue) else 1


# ---------------------------------------------------------------- v1: minimal checks (first value)

_CONTROL_EXCEPT_ESC = re.compile(r"[\x00-\x1a\x1c-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?")
_DATE_TIME = re.compile(
    r"([0-9]{4})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.[0-9]{1,6})?)?)?)?)?)?"
    r"(?:([+-])([0-9]{2})([0-9]{2}))?"
)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_AGE = re.compile(r"[0-9]{3}[DWMY]")
_CODE = re.compile(r"[A-Z0-9_ ]*")
_AE = re.compile(r"[ -\[\]-~]*")
_URI = re.compile(r"[!-\[\]-~]*")


def minimal_value_problem(vr: str, value: str) -> str | None:
    """The v1 check of a non-empty first value (spec §3, implementation note)."""
    if vr in ("AE", "CS", "SH"):
        return "Value length exceeds maximum length" if len(value) > 16 else None
    if vr == "AS":
        return "Value length is not expected" if len(value) != 4 else None
    if vr == "LO":
        if len(value) > 64:
            return "Value length exceeds maximum length"
        return "Value contains invalid character" if _CONTROL_EXCEPT_ESC.search(value) else None
    if vr == "PN":
        return _person_name_problem(value, capitalized=True)
    if vr == "UI":
        return None if is_valid_uid(value) else _UID_DETAIL
    if vr == "DA":
        return None if _valid_date(value.rstrip(" ")) else "Value cannot be parsed as a valid date"
    if vr == "DT":
        return None if _valid_date_time(value.rstrip(" ")) else "Value cannot be parsed as a valid date time"
    if vr == "TM":
        return None if _valid_time(value.rstrip(" ")) else "Value cannot be parsed as a valid time"
    if vr == "IS":
        return None if _integer_problem(value) is None else "Value is not a valid integer string"
    return None


# ---------------------------------------------------------------- v2: PS3.5 §6.2 rules (every value)


def _vr_problem(elem: Element, vr: str, encodings: list[str]) -> tuple[str | None, int]:
    """Return the warning text for the first value that breaks `vr` (or ``None``), and the value count."""
    size = BINARY_SIZES.get(vr)
    if size is not None:
        count = binary_count(elem, vr)
        if count is None:
            reason = f"value length is not a multiple of {size}"
            return f'Content "{len(elem.value)} bytes" does not validate VR {vr}: {reason}', 1
        return None, count
    rule = _RULES.get(vr)
    values = string_values(elem, vr, encodings)
    if rule is None or not values:
        return None, len(values)
    values[-1] = values[-1].rstrip("\0")
    for value in values:
        if value and (reason := rule(value)):
            return f'Content "{value}" does not validate VR {vr}: {reason}', len(values)
    return None, len(values)


element_vr_problem = ValueMemo(_vr_problem)
"""The v2 warning for the first value of an element that breaks its VR (or ``None``), and the element's
value count; computed once per distinct raw value."""


def _max_length(limit: int) -> str:
    return f"value exceeds maximum length of {limit} characters"


_INVALID_CHARACTER = "value contains invalid character"


def _ae_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    if not _AE.fullmatch(value):
        return _INVALID_CHARACTER
    return "value consists only of spaces" if not value.strip(" ") else None


def _as_problem(value: str) -> str | None:
    return None if _AGE.fullmatch(value) else "value does not match the pattern nnnD, nnnW, nnnM or nnnY"


def _cs_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return None if _CODE.fullmatch(value) else _INVALID_CHARACTER


def _da_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if not _DATE.fullmatch(value):
        return "one of the date values does not match the pattern YYYYMMDD"
    return None if _valid_date(value) else "value is not a valid date"


def _ds_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return None if _DECIMAL.fullmatch(value.strip(" ")) else "value is not a decimal string"


def _dt_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if len(value) > 26:
        return _max_length(26)
    if not _DATE_TIME.fullmatch(value):
        return "value does not match the pattern YYYY[MM[DD[HH[MM[SS[.F{1-6}]]]]]][&ZZXX]"
    return None if _valid_date_time(value) else "value is not a valid date time"


def _is_problem(value: str) -> str | None:
    if len(value) > 12:
        return _max_length(12)
    return _integer_problem(value)


def _lo_problem(value: str) -> str | None:
    if len(value) > 64:
        return _max_length(64)
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _pn_problem(value: str) -> str | None:
    return _person_name_problem(value, capitalized=False)


def _sh_problem(value: str) -> str | None:
    if len(value) > 16:
        return _max_length(16)
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _text_problem(limit: int | None) -> Callable[[str], str | None]:
    def problem(value: str) -> str | None:
        if limit is not None and len(value) > limit:
            return _max_length(limit)
        return _INVALID_CHARACTER if _TEXT_CONTROL.search(value) else None

    return problem


def _tm_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if not _TIME.fullmatch(value):
        return "value does not match the pattern HH[MM[SS[.F{1-6}]]]"
    return None if _valid_time(value) else "value is not a valid time"


def _uc_problem(value: str) -> str | None:
    return _INVALID_CHARACTER if _CONTROL_EXCEPT_ESC.search(value) else None


def _ui_problem(value: str) -> str | None:
    value = value.rstrip(" ")
    if len(value) > 64:
        return _max_length(64)
    if value.strip("0123456789."):
        return _INVALID_CHARACTER
    components = value.split(".")
    if "" in components:
        return "value contains an empty component"
    if any(len(c) > 1 and c[0] == "0" for c in components):
        return "value contains a component with a leading zero"
    return None


def _ur_problem(value: str) -> str | None:
    return None if _URI.fullmatch(value) else _INVALID_CHARACTER


_RULES: dict[str, Callable[[str], str | None]] = {
    "AE": _ae_problem,
    "AS": _as_problem,
    "CS": _cs_problem,
    "DA": _da_problem,
    "DS": _ds_problem,
    "DT": _dt_problem,
    "IS": _is_problem,
    "LO": _lo_problem,
    "LT": _text_problem(10240),
    "PN": _pn_problem,
    "SH": _sh_problem,
    "ST": _text_problem(1024),
    "TM": _tm_problem,
    "UC": _uc_problem,
    "UI": _ui_problem,
    "UR": _ur_problem,
    "UT": _text_problem(None),
}


# ---------------------------------------------------------------- shared value checks


def _person_name_problem(value: str, capitalized: bool) -> str | None:
    groups = value.split("=")
    if len(groups) > 3:
        problem = "value contains more than 3 component groups"
    elif any(len(group) > 64 for group in groups):
        problem = "value exceeds maximum length of 64 characters in a component group"
    elif any(group.count("^") > 4 for group in groups):
        problem = "value contains more than 5 components"
    elif _CONTROL_EXCEPT_ESC.search(value):
        problem = _INVALID_CHARACTER
    else:
        return None
    return problem[0].upper() + problem[1:] if capitalized else problem


def _integer_problem(value: str) -> str | None:
    text = value.strip(" ")
    if not _INTEGER.fullmatch(text):
        return "value is not an integer string"
    return None if -(2**31) <= int(text) < 2**31 else "value is out of the range of a 32-bit integer"


def _valid_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    return match is not None and _is_date(*map(int, match.groups()))


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _valid_time(value: str) -> bool:
    match = _TIME.fullmatch(value)
    if match is None:
        return False
    hour, minute, second = (int(part or 0) for part in match.groups())
    return hour <= 23 and minute <= 59 and second <= 60


def _valid_date_time(value: str) -> bool:
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    if not _is_date(int(year), int(month or 1), int(day or 1)):
        return False
    if int(hour or 0) > 23 or int(minute or 0) > 59 or int(second or 0) > 60:
        return False
    if sign is None:
        return True
    return int(offset_hours) <= (14 if sign == "+" else 12) and int(offset_minutes) <= 59
