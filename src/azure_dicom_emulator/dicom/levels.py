"""The levels of the DICOM information model that searchable attributes belong to."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["TagLevel"]


class TagLevel(IntEnum):
    """The level whose rows an attribute's values belong to, from the top down: study, series, instance."""

    STUDY = 0
    SERIES = 1
    INSTANCE = 2
