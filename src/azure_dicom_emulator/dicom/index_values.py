"""The values of an instance that the study and series index tables hold (spec §5.2)."""

from __future__ import annotations

from collections.abc import Collection

from pydicom.dataset import Dataset

STUDY_COLUMNS = {
    "patient_id": 0x00100020,
    "patient_name": 0x00100010,
    "patient_birth_date": 0x00100030,
    "referring_physician_name": 0x00080090,
    "study_date": 0x00080020,
    "study_description": 0x00081030,
    "accession_number": 0x00080050,
}
SERIES_COLUMNS = {
    "modality": 0x00080060,
    "performed_procedure_step_start_date": 0x00400244,
    "manufacturer_model_name": 0x00081090,
}


def index_values(ds: Dataset, columns: dict[str, int], dropped: Collection[int] = ()) -> dict[str, str | None]:
    """Column name -> first value as text (None when absent, empty or in ``dropped``)."""
    values: dict[str, str | None] = {}
    for name, tag in columns.items():
        value = None
        if tag not in dropped and tag in ds:
            raw = ds[tag].value
            if isinstance(raw, list | tuple) or type(raw).__name__ == "MultiValue":
                raw = raw[0] if len(raw) else None
            if raw is not None:
                value = str(raw).rstrip(" \x00") or None
        values[name] = value
    return values
