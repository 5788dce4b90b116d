"""The paging parameters of a list (``limit``, ``offset``), read as Azure's model binding reads them."""

from __future__ import annotations

from collections.abc import Mapping

from .model_binding import integer_parameter

MAX_LIMIT = 200
DEFAULT_LIMIT = 100
MAX_OFFSET = 2**31 - 1


def paging(pairs: list[tuple[str, str]]) -> tuple[int, int]:
    """``(limit, offset)`` of a paged list's query pairs; the first value of each (names in any case) counts."""
    first: dict[str, str] = {}
    for key, value in pairs:
        first.setdefault(key.strip().lower(), value)
    return limit_and_offset(first)


def limit_and_offset(first: Mapping[str, str]) -> tuple[int, int]:
    """``(limit, offset)`` from first values by lowercased name: limit 1..200 (default 100), offset 0 or more."""
    limit = integer_parameter("Limit", first["limit"], 1, MAX_LIMIT) if "limit" in first else DEFAULT_LIMIT
    offset = integer_parameter("Offset", first["offset"], 0, MAX_OFFSET) if "offset" in first else 0
    return limit, offset
