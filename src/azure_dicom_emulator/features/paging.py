"""Reserved query parameters read as Azure's model binding reads them, with its 400 messages."""

from __future__ import annotations

import re

from ..errors import BadRequest

MAX_LIMIT = 200
DEFAULT_LIMIT = 100
MAX_OFFSET = 2**31 - 1
_DOTNET_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")


def invalid_parameter(name: str, detail: str) -> BadRequest:
    """Azure's 400 for a query parameter that does not bind."""
    return BadRequest(f"The query parameter '{name}' is invalid. {detail}")


def integer_parameter(name: str, text: str, low: int, high: int) -> int:
    """``text`` as a 32-bit integer between ``low`` and ``high``; 400 naming the parameter otherwise."""
    if not _DOTNET_INTEGER.fullmatch(text) or not -(2**31) <= int(text) < 2**31:
        raise invalid_parameter(name, f"The value '{text}' is not valid for {name}.")
    value = int(text)
    if not low <= value <= high:
        raise invalid_parameter(name, f"The field {name} must be between {low} and {high}.")
    return value


def paging(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """``(limit, offset)`` of a paged list: limit 1..200 (default 100), offset from 0; first values count."""
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key.strip().lower(), value)
    limit = integer_parameter("Limit", first["limit"], 1, MAX_LIMIT) if "limit" in first else DEFAULT_LIMIT
    offset = integer_parameter("Offset", first["offset"], 0, MAX_OFFSET) if "offset" in first else 0
    return limit, offset
