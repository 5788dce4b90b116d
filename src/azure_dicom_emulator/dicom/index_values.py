"""The values of an instance that the study and series index tables hold (spec §5.2), with their matching keys."""

from __future__ import annotations

from dataclasses import dataclass

from .attribute_ids import path_of
from .core_attributes import CORE_ATTRIBUTES, Match, held_attributes
from .levels import TagLevel
from .matching import person_name_key, person_name_words, text_key, words_column
from .query_attributes import returned_attributes


def _value_columns(level: TagLevel) -> dict[str, str]:
    return {
        attribute.column: path_of(attribute.tag)
        for attribute in held_attributes(level)
        if attribute.match is not Match.UID  # the row's own UID identifies it
    }


STUDY_COLUMNS = _value_columns(TagLevel.STUDY)
"""Column -> metadata path of the values a study row holds besides its UID."""
SERIES_COLUMNS = _value_columns(TagLevel.SERIES)
"""Column -> metadata path of the values a series row holds besides its UID."""
_KEYED = {
    attribute.column: attribute
    for attribute in CORE_ATTRIBUTES.values()
    if attribute.held and attribute.match in (Match.TEXT, Match.PERSON_NAME)
}
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def index_values(metadata: dict, columns: dict[str, str]) -> dict[str, str | None]:
    """Column name -> first value as text, taken from an instance's DICOM JSON (None when absent or empty),
    plus the matching keys of `match_keys`.

    Working from the metadata means attributes left out of it (v2 validation) are not indexed either.
    """
    values: dict[str, str | None] = {}
    for name, tag in columns.items():
        element = metadata.get(tag)
        first = element.get("Value", [None])[0] if element else None
        if isinstance(first, dict):  # a person name: its component groups, "=" between them
            groups = [first.get(group, "") for group in _PN_GROUPS]
            while groups and not groups[-1]:
                groups.pop()
            first = "=".join(groups)
        text = None if first is None else str(first).rstrip(" \x00")
        values[name] = text or None
    return match_keys(values)


def match_keys(values: dict[str, str | None]) -> dict[str, str | None]:
    """`values` with the matching-key columns of its text and person-name columns added (None for None)."""
    keyed = dict(values)
    for name, value in values.items():
        attribute = _KEYED.get(name)
        if attribute is None:
            continue
        if attribute.match is Match.TEXT:
            keyed[attribute.key_column] = None if value is None else text_key(value)
        else:
            keyed[attribute.key_column] = None if value is None else person_name_key(value)
            keyed[attribute.words_column] = None if value is None else words_column(person_name_words(value))
    return keyed


def person_name_json(indexed: str) -> dict[str, str]:
    """The DICOM JSON PN value of a name as `index_values` holds it (component groups joined by ``=``)."""
    return {group: text for group, text in zip(_PN_GROUPS, indexed.split("="), strict=False) if text}


@dataclass(frozen=True)
class IndexedLevels:
    """What the index rows of an instance's study, series and instance hold of its metadata."""

    study_values: dict
    """The study row's indexed values (`STUDY_COLUMNS`) and its returned attributes (``attributes``)."""
    series_values: dict
    """The series row's indexed values (`SERIES_COLUMNS`) and its returned attributes (``attributes``)."""
    instance_attributes: str
    """The attributes searches return at instance level, as JSON."""


def indexed_levels(metadata: dict) -> IndexedLevels:
    """The values an instance's DICOM JSON ``metadata`` gives the study, series and instance rows."""
    study_values = index_values(metadata, STUDY_COLUMNS)
    series_values = index_values(metadata, SERIES_COLUMNS)
    study_values["attributes"] = returned_attributes(metadata, "study")
    series_values["attributes"] = returned_attributes(metadata, "series")
    return IndexedLevels(study_values, series_values, returned_attributes(metadata, "instance"))
