"""What each search route may filter on and returns, by level and API version (spec §5.1, §5.2, §5.6)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

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


@dataclass(frozen=True)
class CoreAttribute:
    """A searchable attribute held in the study, series or instance table."""

    tag: int
    level: TagLevel
    vr: str
    column: str


CORE_ATTRIBUTES = {
    attribute.tag: attribute
    for attribute in (
        CoreAttribute(0x0020000D, TagLevel.STUDY, "UI", "study_uid"),
        CoreAttribute(0x00100010, TagLevel.STUDY, "PN", "patient_name"),
        CoreAttribute(0x00100020, TagLevel.STUDY, "LO", "patient_id"),
        CoreAttribute(0x00100030, TagLevel.STUDY, "DA", "patient_birth_date"),
        CoreAttribute(0x00080050, TagLevel.STUDY, "SH", "accession_number"),
        CoreAttribute(0x00080090, TagLevel.STUDY, "PN", "referring_physician_name"),
        CoreAttribute(0x00080020, TagLevel.STUDY, "DA", "study_date"),
        CoreAttribute(0x00081030, TagLevel.STUDY, "LO", "study_description"),
        CoreAttribute(0x00080061, TagLevel.STUDY, "CS", "modality"),  # ModalitiesInStudy: any series' Modality
        CoreAttribute(0x0020000E, TagLevel.SERIES, "UI", "series_uid"),
        CoreAttribute(0x00080060, TagLevel.SERIES, "CS", "modality"),
        CoreAttribute(0x00400244, TagLevel.SERIES, "DA", "performed_procedure_step_start_date"),
        CoreAttribute(0x00081090, TagLevel.SERIES, "LO", "manufacturer_model_name"),
        CoreAttribute(0x00080018, TagLevel.INSTANCE, "UI", "sop_uid"),
    )
}
"""The core searchable attributes (spec §5.2), by tag."""

MODALITIES_IN_STUDY = 0x00080061
NUMBER_OF_STUDY_RELATED_SERIES = 0x00201206
NUMBER_OF_STUDY_RELATED_INSTANCES = 0x00201208
NUMBER_OF_SERIES_RELATED_INSTANCES = 0x00201209
COMPUTED = {
    TagLevel.STUDY: frozenset({MODALITIES_IN_STUDY, NUMBER_OF_STUDY_RELATED_SERIES, NUMBER_OF_STUDY_RELATED_INSTANCES}),
    TagLevel.SERIES: frozenset({NUMBER_OF_SERIES_RELATED_INSTANCES}),
    TagLevel.INSTANCE: frozenset(),
}
"""Attributes computed from the index, returned when filtered on or included."""

INDEXED = {
    TagLevel.STUDY: {
        attribute.tag: attribute.column
        for attribute in CORE_ATTRIBUTES.values()
        if attribute.level == TagLevel.STUDY and attribute.tag != MODALITIES_IN_STUDY
    },
    TagLevel.SERIES: {
        attribute.tag: attribute.column for attribute in CORE_ATTRIBUTES.values() if attribute.level == TagLevel.SERIES
    },
    TagLevel.INSTANCE: {0x00080018: "sop_uid", 0x00080016: "sop_class_uid"},
}
"""Attributes whose values the index holds, by level: tag -> column."""


def default_tags(levels: tuple[TagLevel, ...], api_version: int, include_all: bool) -> set[int]:
    """The attributes returned without includefield (or with ``all``) for results carrying ``levels``."""
    table = ALL if include_all else V2_DEFAULTS if api_version >= 2 else V1_DEFAULTS
    return set().union(*(table[level.name.lower()] for level in levels))
