"""The attributes a search returns at each level (spec §5.6), and the copy of them kept for searches.

Levels are ``"study"``, ``"series"`` and ``"instance"``. Every attribute a search returns without
``includefield`` (v1 or v2) or with ``includefield=all`` is in `KEPT`; the index keeps those of the
most recently stored instance of each study, series and instance (`returned_attributes`), so that
searches rarely need to read whole metadata documents.
"""

from __future__ import annotations

import json

from .attribute_ids import parse_attribute_id, path_of
from .core_attributes import held_attributes
from .levels import TagLevel

__all__ = ["ALL", "KEPT", "V1_DEFAULTS", "V2_DEFAULTS", "returned_attributes"]


def _tags(*keywords: str) -> frozenset[int]:
    return frozenset(parse_attribute_id(keyword) for keyword in keywords)


V2_DEFAULTS = {
    level.name.lower(): frozenset(attribute.tag for attribute in held_attributes(level)) for level in TagLevel
}
"""What v2 returns without includefield, by level: the core attributes the index holds (not ModalitiesInStudy)."""
V1_DEFAULTS = {
    "study": _tags(
        "SpecificCharacterSet",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ReferringPhysicianName",
        "TimezoneOffsetFromUTC",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
    ),
    "series": _tags(
        "SpecificCharacterSet",
        "Modality",
        "TimezoneOffsetFromUTC",
        "SeriesDescription",
        "SeriesInstanceUID",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "RequestAttributesSequence",
    ),
    "instance": _tags(
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        "InstanceAvailability",
        "TimezoneOffsetFromUTC",
        "InstanceNumber",
        "Rows",
        "Columns",
        "BitsAllocated",
        "NumberOfFrames",
    ),
}
ALL = {
    "study": V1_DEFAULTS["study"]
    | _tags(
        "StudyDescription",
        "AnatomicRegionsInStudyCodeSequence",
        "ProcedureCodeSequence",
        "NameOfPhysiciansReadingStudy",
        "AdmittingDiagnosesDescription",
        "ReferencedStudySequence",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "Occupation",
        "AdditionalPatientHistory",
    ),
    "series": V1_DEFAULTS["series"] | _tags("SeriesNumber", "Laterality", "SeriesDate", "SeriesTime"),
    "instance": V1_DEFAULTS["instance"],
}
"""What ``includefield=all`` returns, by level: the v1 defaults and Azure's additions (not ManufacturerModelName)."""
KEPT = {level: ALL[level] | V2_DEFAULTS[level] for level in ALL}
"""Every attribute a search returns without includefield or with ``all``, in either version, by level."""
_KEPT_PATHS = {level: sorted(path_of(tag) for tag in tags) for level, tags in KEPT.items()}


def returned_attributes(metadata: dict, level: str) -> str:
    """The elements of `KEPT` at ``level`` that ``metadata`` (an instance's DICOM JSON) has a value for, as JSON."""
    kept = {}
    for path in _KEPT_PATHS[level]:
        element = metadata.get(path)
        if element is not None and element.get("Value"):
            kept[path] = element
    return json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
