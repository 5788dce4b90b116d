"""The values of an instance that the study and series index tables hold (spec §5.2)."""

from __future__ import annotations

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
_PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")


def index_values(metadata: dict, columns: dict[str, str]) -> dict[str, str | None]:
    """Column name -> first value as text, taken from an instance's DICOM JSON (None when absent or empty).

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
    return values
