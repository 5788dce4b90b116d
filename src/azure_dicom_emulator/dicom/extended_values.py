"""The value of an extended query tag in an instance's DICOM JSON metadata, typed for its index (spec §8.4).

An extended query tag indexes the first value of one top-level attribute. The value is typed by
the tag's VR: case-insensitive text, person name, date/date-time/time key, integer or double.
When reindexing existing instances the value must also pass the minimal VR checks; a value that
does not is an indexing error with the message Azure gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .attribute_ids import is_private, path_of
from .matching import date_key, date_time_key, person_name_key, person_name_words, text_key, time_key, words_column
from .value_kinds import KINDS
from .value_rules import minimal_value_problem

__all__ = ["NameValue", "TagSpec", "tag_value"]

_LONG_RANGE = (-(2**63), 2**63 - 1)
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
VR_NOT_EXPECTED = "The extended query tag VR is not expected."
MULTIPLE_VALUES = "Dicom element has multiple values. Indexing is only supported on single value element."
_INVALID_CHARACTER = "Value contains invalid character."
_UNPARSABLE = {
    "DA": "Value cannot be parsed as a valid date.",
    "DT": "Value cannot be parsed as a valid date time.",
    "TM": "Value cannot be parsed as a valid time.",
    "long": "Value is not a valid integer.",
    "double": "Value is not a valid number.",
}


@dataclass(frozen=True)
class TagSpec:
    """What indexing needs to know of an extended query tag."""

    tag: int
    vr: str
    private_creator: str | None = None

    @property
    def kind(self) -> str:
        """Which typed index holds its values."""
        return KINDS[self.vr]


@dataclass(frozen=True)
class NameValue:
    """An indexed person name: its whole-name key and its words column."""

    key: str
    words: str


def tag_value(metadata: dict, spec: TagSpec, strict: bool) -> tuple[object | None, str | None]:
    """``(value, error)`` for the tag in ``metadata``: the typed value to index, or ``None`` when there is none.

    Without `strict` (the store path, after STOW validation) the first value of a multi-valued
    attribute is indexed and anything unusable is silently left out. With `strict` (reindexing),
    a wrong VR, several values or a value that fails the minimal checks of its VR is an error.
    """
    element = _element(metadata, spec)
    values = element.get("Value") if element else None
    if not values:
        return None, None
    if element.get("vr") != spec.vr:
        return None, VR_NOT_EXPECTED if strict else None
    if strict and len(values) > 1:
        return None, MULTIPLE_VALUES
    first = values[0]
    if first is None:
        return None, None
    value, error = _typed(first, spec.vr, strict)
    return (None, error) if error else (value, None)


def _element(metadata: dict, spec: TagSpec) -> dict | None:
    element = metadata.get(path_of(spec.tag))
    if element is None or not is_private(spec.tag) or spec.tag & 0xFFFF < 0x1000:
        return element
    creator_tag = (spec.tag & 0xFFFF0000) | (spec.tag >> 8 & 0xFF)
    creator = metadata.get(path_of(creator_tag), {}).get("Value") or [None]
    if not isinstance(creator[0], str) or creator[0].rstrip(" \0") != (spec.private_creator or ""):
        return None
    return element


def _typed(first: object, vr: str, strict: bool) -> tuple[object | None, str | None]:
    kind = KINDS[vr]
    if kind == "long":
        return _long(first)
    if kind == "double":
        return _double(first)
    if kind == "person_name":
        if not isinstance(first, dict):
            return None, VR_NOT_EXPECTED
        text = "=".join(first.get(group, "") for group in _PN_GROUPS).rstrip("=").rstrip(" \0")
    else:
        text = str(first).rstrip(" \0")
    if not text:
        return None, None
    if "\0" in text:
        return None, _INVALID_CHARACTER if strict else None
    if strict and (problem := minimal_value_problem(vr, text)):
        return None, problem.rstrip(".") + "."
    if kind == "person_name":
        return NameValue(person_name_key(text), words_column(person_name_words(text))), None
    if kind == "string":
        return text_key(text), None
    key = {"DA": date_key, "DT": date_time_key, "TM": time_key}[vr](text)
    return (key, None) if key is not None else (None, _UNPARSABLE[vr])


def _long(first: object) -> tuple[int | None, str | None]:
    try:
        number = int(first.strip()) if isinstance(first, str) else first
    except ValueError:
        return None, _UNPARSABLE["long"]
    if isinstance(number, bool) or not isinstance(number, int) or not _LONG_RANGE[0] <= number <= _LONG_RANGE[1]:
        return None, _UNPARSABLE["long"]
    return number, None


def _double(first: object) -> tuple[float | None, str | None]:
    if isinstance(first, bool) or not isinstance(first, int | float) or not math.isfinite(first):
        return None, _UNPARSABLE["double"]
    return float(first), None
