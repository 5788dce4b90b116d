"""What each search route may filter on and returns, by level and API version (spec §5.1, §5.2, §5.6)."""

from __future__ import annotations

from enum import Enum

from ...dicom.core_attributes import MODALITIES_IN_STUDY, held_attributes
from ...dicom.query_attributes import ALL, V1_DEFAULTS, V2_DEFAULTS
from ...storage.tag_values import TagLevel


class Resource(Enum):
    """The six search routes, each with the levels whose attributes it may filter on."""

    ALL_STUDIES = (TagLevel.STUDY, (TagLevel.STUDY,))
    ALL_SERIES = (TagLevel.SERIES, (TagLevel.STUDY, TagLevel.SERIES))
    ALL_INSTANCES = (TagLevel.INSTANCE, (TagLevel.STUDY, TagLevel.SERIES, TagLevel.INSTANCE))
    STUDY_SERIES = (TagLevel.SERIES, (TagLevel.SERIES,))
    STUDY_INSTANCES = (TagLevel.INSTANCE, (TagLevel.SERIES, TagLevel.INSTANCE))
    STUDY_SERIES_INSTANCES = (TagLevel.INSTANCE, (TagLevel.INSTANCE,))

    @property
    def level(self) -> TagLevel:
        """The level of the results (what limit and offset count)."""
        return self.value[0]

    @property
    def filter_levels(self) -> tuple[TagLevel, ...]:
        """The levels whose attributes are queryable on this route, and that its results carry."""
        return self.value[1]


NUMBER_OF_STUDY_RELATED_SERIES = 0x00201206
NUMBER_OF_STUDY_RELATED_INSTANCES = 0x00201208
NUMBER_OF_SERIES_RELATED_INSTANCES = 0x00201209
COMPUTED = {
    TagLevel.STUDY: frozenset({MODALITIES_IN_STUDY, NUMBER_OF_STUDY_RELATED_SERIES, NUMBER_OF_STUDY_RELATED_INSTANCES}),
    TagLevel.SERIES: frozenset({NUMBER_OF_SERIES_RELATED_INSTANCES}),
    TagLevel.INSTANCE: frozenset(),
}
"""Attributes computed from the index, returned when filtered on or included."""

_NOT_SEARCHABLE = {TagLevel.INSTANCE: {0x00080016: "sop_class_uid"}}  # SOPClassUID
INDEXED = {
    level: {
        **{attribute.tag: attribute.column for attribute in held_attributes(level)},
        **_NOT_SEARCHABLE.get(level, {}),
    }
    for level in TagLevel
}
"""Attributes whose values the index holds, by level: tag -> column (the core attributes held and SOPClassUID)."""


def default_tags(levels: tuple[TagLevel, ...], api_version: int, include_all: bool) -> set[int]:
    """The attributes returned without includefield (or with ``all``) for results carrying ``levels``."""
    table = ALL if include_all else V2_DEFAULTS if api_version >= 2 else V1_DEFAULTS
    return set().union(*(table[level.name.lower()] for level in levels))
