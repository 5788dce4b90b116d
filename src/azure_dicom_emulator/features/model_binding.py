"""Request values read as Azure's model binding reads them (.NET's parsing rules), with its 400 messages."""

from __future__ import annotations

import re

from ..errors import BadRequest

INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)
_DOTNET_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")


def integer_value(text: str) -> int | None:
    """``text`` as .NET parses an integer (digits with an optional sign, white space around), or None."""
    return int(text) if _DOTNET_INTEGER.fullmatch(text) else None


def invalid_parameter(name: str, detail: str) -> BadRequest:
    """Azure's 400 for a query parameter that does not bind."""
    return BadRequest(f"The query parameter '{name}' is invalid. {detail}")


def integer_parameter(name: str, text: str, low: int, high: int, kind: range = INT32) -> int:
    """``text`` as an integer of type ``kind`` (Int32 unless told) from ``low`` to ``high``; 400 naming it otherwise."""
    value = integer_value(text)
    if value is None or value not in kind:
        raise invalid_parameter(name, f"The value '{text}' is not valid for {name}.")
    if not low <= value <= high:
        raise invalid_parameter(name, f"The field {name} must be between {low} and {high}.")
    return value


def boolean_parameter(name: str, text: str) -> bool:
    """``text`` as a boolean (``true`` or ``false`` in any case, white space around); 400 naming it otherwise."""
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise invalid_parameter(name, f"The value '{text}' is not valid for {name}.")
    return value == "true"
