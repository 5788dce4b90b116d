"""The core searchable attributes (spec §5.2): for each, its tag, level, VR, index column and way of matching.

This table is the one list of them: validation's indexed attributes, the index values taken
from each instance, the attributes searches filter on, the columns search rows carry and the
attributes v2 returns by default are all derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .levels import TagLevel

__all__ = ["CORE_ATTRIBUTES", "MODALITIES_IN_STUDY", "CoreAttribute", "Match", "held_attributes"]


class Match(Enum):
    """How a search compares a query value with a core attribute (spec §5.4)."""

    UID = "uid"
    """Exact match on the column, trailing NULs ignored: the UID of the study, series or instance the row is."""
    TEXT = "text"
    """Case-insensitive match on the column's ``_key`` companion."""
    PERSON_NAME = "person_name"
    """Case- and accent-insensitive match on the ``_key`` companion; fuzzy matching on the ``_words`` one."""
    DATE = "date"
    """A date or a range of dates on the column itself."""
    ANY_SERIES = "any_series"
    """Some series of the study has the value: the column is the series', matched as `TEXT`."""


@dataclass(frozen=True)
class CoreAttribute:
    """A searchable attribute: the index column that holds it and how searches match it."""

    tag: int
    level: TagLevel
    vr: str
    column: str
    match: Match

    @property
    def held(self) -> bool:
        """Whether the rows of the attribute's level hold its value (ModalitiesInStudy is computed from the series)."""
        return self.match is not Match.ANY_SERIES

    @property
    def key_column(self) -> str:
        """The column a query value's matching key is compared with: the ``_key`` companion or the column itself."""
        return self.column + "_key" if self.match in (Match.TEXT, Match.PERSON_NAME, Match.ANY_SERIES) else self.column

    @property
    def words_column(self) -> str | None:
        """The column of a person name's words, for fuzzy matching; ``None`` for other attributes."""
        return self.column + "_words" if self.match is Match.PERSON_NAME else None


MODALITIES_IN_STUDY = 0x00080061

CORE_ATTRIBUTES = {
    attribute.tag: attribute
    for attribute in (
        CoreAttribute(0x0020000D, TagLevel.STUDY, "UI", "study_uid", Match.UID),
        CoreAttribute(0x00100010, TagLevel.STUDY, "PN", "patient_name", Match.PERSON_NAME),
        CoreAttribute(0x00100020, TagLevel.STUDY, "LO", "patient_id", Match.TEXT),
        CoreAttribute(0x00100030, TagLevel.STUDY, "DA", "patient_birth_date", Match.DATE),
        CoreAttribute(0x00080050, TagLevel.STUDY, "SH", "accession_number", Match.TEXT),
        CoreAttribute(0x00080090, TagLevel.STUDY, "PN", "referring_physician_name", Match.PERSON_NAME),
        CoreAttribute(0x00080020, TagLevel.STUDY, "DA", "study_date", Match.DATE),
        CoreAttribute(0x00081030, TagLevel.STUDY, "LO", "study_description", Match.TEXT),
        CoreAttribute(MODALITIES_IN_STUDY, TagLevel.STUDY, "CS", "modality", Match.ANY_SERIES),
        CoreAttribute(0x0020000E, TagLevel.SERIES, "UI", "series_uid", Match.UID),
        CoreAttribute(0x00080060, TagLevel.SERIES, "CS", "modality", Match.TEXT),
        CoreAttribute(0x00400244, TagLevel.SERIES, "DA", "performed_procedure_step_start_date", Match.DATE),
        CoreAttribute(0x00081090, TagLevel.SERIES, "LO", "manufacturer_model_name", Match.TEXT),
        CoreAttribute(0x00080018, TagLevel.INSTANCE, "UI", "sop_uid", Match.UID),
    )
}
"""The core searchable attributes, by tag, in the order of spec §5.2."""


def held_attributes(level: TagLevel) -> list[CoreAttribute]:
    """The core attributes whose values the rows of ``level`` hold, in table order."""
    return [attribute for attribute in CORE_ATTRIBUTES.values() if attribute.level == level and attribute.held]
