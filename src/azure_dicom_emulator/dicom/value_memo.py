"""Remembering what is computed from an element's raw value, for values that repeat from instance to instance.

The instances of a series share most of their header: patient, study, equipment and pixel
description are the same bytes in each file. Work that depends on nothing but an element's
encoded value (its JSON text, whether it breaks its VR's rules) is done once per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from pydicom.dataelem import DataElement, RawDataElement

Element = DataElement | RawDataElement
T = TypeVar("T")

MAX_ENTRIES = 4096
MAX_VALUE_BYTES = 256
"""Longer values (free text, lookup tables) rarely repeat and are computed every time."""


class ValueMemo(Generic[T]):
    """``compute(element, vr, encodings)``, remembered for raw values of at most MAX_VALUE_BYTES bytes.

    ``compute`` must depend only on the element's raw value, its encoded VR, its byte order, the
    resolved ``vr`` and ``encodings``, and its result must never be changed by a caller.
    """

    def __init__(self, compute: Callable[[Element, str, list[str]], T]) -> None:
        self.compute = compute
        self.results: dict[tuple, T] = {}

    def __call__(self, elem: Element, vr: str, encodings: list[str]) -> T:
        """The result of ``compute`` for the element, computed at most once per distinct raw value."""
        value = elem.value
        if not isinstance(value, bytes) or len(value) > MAX_VALUE_BYTES:
            return self.compute(elem, vr, encodings)
        key = (value, vr, elem.VR, getattr(elem, "is_little_endian", True), *encodings)
        result = self.results.get(key)
        if result is None:
            result = self.compute(elem, vr, encodings)
            if len(self.results) >= MAX_ENTRIES:
                self.results.clear()
            self.results[key] = result
        return result
