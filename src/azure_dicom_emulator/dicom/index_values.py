"""The values of an instance that the study and series index tables hold (spec §5.2), with their matching keys."""

from __future__ import annotations

from .matching import person_name_key, person_name_words, text_key, words_column

STUDY_COLUMNS = {
    "patient_id": "00100020",
    "patient_name": "00100010",
    "patient_birth_date": "00100030",
    "referring_physician_name": "00080090",
    "study_date": "00080020",
    "study_description": "00081030",
    "accession_number": "00080050",
}
SERIES_COLUMNS = {
    "modality": "00080060",
    "performed_procedure_step_start_date": "00400244",
    "manufacturer_model_name": "00081090",
}
PERSON_NAME_COLUMNS = frozenset({"patient_name", "referring_physician_name"})
"""Columns holding person names: they get a ``_key`` (case and accents ignored) and a ``_words`` column."""
TEXT_KEY_COLUMNS = frozenset(
    {"patient_id", "study_description", "accession_number", "modality", "manufacturer_model_name"}
)
"""Columns matched case-insensitively: they get a ``_key`` column."""
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
        if name in TEXT_KEY_COLUMNS:
            keyed[name + "_key"] = None if value is None else text_key(value)
        elif name in PERSON_NAME_COLUMNS:
            keyed[name + "_key"] = None if value is None else person_name_key(value)
            keyed[name + "_words"] = None if value is None else words_column(person_name_words(value))
    return keyed


def person_name_json(indexed: str) -> dict[str, str]:
    """The DICOM JSON PN value of a name as `index_values` holds it (component groups joined by ``=``)."""
    return {group: text for group, text in zip(_PN_GROUPS, indexed.split("="), strict=False) if text}
