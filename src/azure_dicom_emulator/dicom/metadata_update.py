"""Changing top-level elements of a stored DICOM JSON object without rewriting the others.

The stored metadata is a JSON object keyed by tags in ascending order (``dicom_json``). Parsing
and serialising it again would change how untouched values are written (a DS value ``1e10``
would come back as ``10000000000.0``), so entries are replaced as text: every other byte of the
object stays as it was.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def top_level_entries(text: str) -> dict[str, str]:
    """Each key of the JSON object ``text`` with its value's text, in the object's order.

    Raises ValueError when ``text`` is not a JSON object.
    """
    entries: dict[str, str] = {}
    position = _skip(text, 0)
    if text[position : position + 1] != "{":
        raise ValueError("The metadata is not a JSON object.")
    position = _skip(text, position + 1)
    if text[position : position + 1] == "}":
        return entries
    while True:
        key, position = _DECODER.raw_decode(text, position)
        position = _skip(text, position)
        if not isinstance(key, str) or text[position : position + 1] != ":":
            raise ValueError("The metadata is not a JSON object.")
        start = _skip(text, position + 1)
        _, end = _DECODER.raw_decode(text, start)
        entries[key] = text[start:end]
        position = _skip(text, end)
        separator = text[position : position + 1]
        if separator == "}":
            return entries
        if separator != ",":
            raise ValueError("The metadata is not a JSON object.")
        position = _skip(text, position + 1)


def with_entries(text: str, changes: Mapping[str, str]) -> str:
    """The JSON object ``text`` with the entries of ``changes`` (key -> value text) added or replaced.

    Keys stay in ascending order, so an added tag takes its place among the others; untouched
    entries keep their text.
    """
    entries = top_level_entries(text)
    entries.update(changes)
    return "{" + ",".join(f"{json.dumps(key)}:{entries[key]}" for key in sorted(entries)) + "}"


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position
