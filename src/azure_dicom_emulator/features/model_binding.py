"""Request values read as Azure's model binding reads them (.NET's parsing rules), with its 400 messages."""

from __future__ import annotations

import re
from decimal import Decimal

from ..errors import BadRequest

INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)
_WHITE = "[\t-\r ]*"  # .NET's white space in numbers: U+0009 to U+000D and U+0020
_DOTNET_INTEGER = re.compile(rf"{_WHITE}([+-]?)0*([0-9]+){_WHITE}")
# .NET's NumberStyles.Any for an integer: a sign before or after, or parentheses; a fraction of zeros; an exponent.
_DOTNET_ANY_NUMBER = re.compile(
    rf"{_WHITE}(?:(?P<sign>[+-])|(?P<open>\())?"
    rf"(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?(?:[eE](?P<exponent>[+-]?[0-9]+))?"
    rf"(?P<trailing_sign>[+-])?(?(open)\)){_WHITE}"
)
_LONGEST_INT64 = 19  # digits
_LONGEST_EXPONENT = 6  # digits: past them a number is no 64-bit integer unless it is zero


def integer_value(text: str) -> int | None:
    """``text`` as .NET parses an integer (digits with an optional sign, white space around), or None.

    None as well for more digits than any 64-bit integer has (leading zeros aside), so that no caller
    converts thousands of digits.
    """
    match = _DOTNET_INTEGER.fullmatch(text)
    if match is None or len(match.group(2)) > _LONGEST_INT64:
        return None
    return int(match.group(1) + match.group(2))


def any_style_integer(text: str) -> int | None:
    """``text`` as .NET's ``int.TryParse`` with ``NumberStyles.Any`` reads it (``" 7 "``, ``"7.0"``, ``"(7)"``,
    ``"7-"``, ``"7e0"``), or None when it is no whole number of at most 64 bits."""
    match = _DOTNET_ANY_NUMBER.fullmatch(text)
    if match is None:
        return None
    whole, fraction, exponent = match.group("whole"), match.group("fraction") or "", match.group("exponent")
    if not whole and not fraction or (match.group("sign") and match.group("trailing_sign")):
        return None
    digits = (whole + fraction).strip("0")
    if not digits:
        return 0
    if exponent is not None and len(exponent.lstrip("+-").lstrip("0")) > _LONGEST_EXPONENT:
        return None
    number = Decimal(f"{whole or 0}.{fraction or 0}e{exponent or 0}")
    if number != number.to_integral_value() or not -(2**63) <= number < 2**63:
        return None
    negative = match.group("open") or "-" in (match.group("sign"), match.group("trailing_sign"))
    return -int(number) if negative else int(number)


def invalid_parameter(name: str, detail: str) -> BadRequest:
    """Azure's 400 for a query parameter that does not bind."""
    return BadRequest(f"The query parameter '{name}' is invalid. {detail}")


def bound_integer(name: str, text: str, kind: range = INT32) -> int:
    """``text`` as an integer of type ``kind`` (Int32 unless told); 400 "The value '…' is invalid." for a blank
    text, "The value '…' is not valid for …" for any other that is not."""
    if not text.strip():
        raise invalid_parameter(name, f"The value '{text}' is invalid.")
    value = integer_value(text)
    if value is None or value not in kind:
        raise invalid_parameter(name, f"The value '{text}' is not valid for {name}.")
    return value


def integer_parameter(name: str, text: str, low: int, high: int, kind: range = INT32) -> int:
    """``text`` as an integer of type ``kind`` (Int32 unless told) from ``low`` to ``high``; 400 naming it otherwise."""
    value = bound_integer(name, text, kind)
    if not low <= value <= high:
        raise invalid_parameter(name, f"The field {name} must be between {low} and {high}.")
    return value


def int32_list_parameter(name: str, text: str) -> list[int]:
    """``text`` as Azure's comma-separated integer binder reads it: entries trimmed, each an Int32 in
    ``NumberStyles.Any``, an empty text an empty list; 400 "Unable to parse value …" naming the first
    entry that is not."""
    if not text:
        return []
    numbers = []
    for entry in (piece.strip() for piece in text.split(",")):
        number = any_style_integer(entry)
        if number is None or number not in INT32:
            raise invalid_parameter(name, f"Unable to parse value '{entry}' as Int32.")
        numbers.append(number)
    return numbers


def boolean_parameter(name: str, text: str) -> bool:
    """``text`` as a boolean (``true`` or ``false`` in any case, white space around); 400 naming it otherwise."""
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise invalid_parameter(name, f"The value '{text}' is not valid for {name}.")
    return value == "true"
