"""The attributes a workitem search matches on and returns (PS3.18 §11.9, PS3.4 Table CC.2.5-3 return keys).

Ten keys are searchable: five top-level attributes and five attributes of sequence items, each
named ``Sequence.Attribute``. Values become matching keys (see `matching`) when a workitem is
stored, so a search compares keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from . import matching
from .attribute_ids import path_of
from .dicom_json import string_values

__all__ = ["RETURN_KEYS", "SEARCH_KEYS", "SearchKey", "SearchValues", "match_key", "search_values"]


@dataclass(frozen=True)
class SearchKey:
    """A searchable attribute: its path (the tag, or the sequence's tag and the item attribute's), its VR."""

    path: tuple[int, ...]
    vr: str

    @property
    def path_text(self) -> str:
        """The path as hexadecimal tags joined by a dot: ``0040A370.00080050``."""
        return ".".join(path_of(tag) for tag in self.path)


def _key(keywords: str, vr: str) -> SearchKey:
    return SearchKey(tuple(tag_for_keyword(keyword) for keyword in keywords.split(".")), vr)


PATIENT_NAME = _key("PatientName", "PN")
PATIENT_ID = _key("PatientID", "LO")
START_DATE_TIME = _key("ScheduledProcedureStepStartDateTime", "DT")
PROCEDURE_STEP_STATE = _key("ProcedureStepState", "CS")
STUDY_UID = _key("StudyInstanceUID", "UI")
SEQUENCE_KEYS = (
    _key("ReferencedRequestSequence.AccessionNumber", "SH"),
    _key("ReferencedRequestSequence.RequestedProcedureID", "SH"),
    _key("ScheduledStationNameCodeSequence.CodeValue", "SH"),
    _key("ScheduledStationClassCodeSequence.CodeValue", "SH"),
    _key("ScheduledStationGeographicLocationCodeSequence.CodeValue", "SH"),
)
SEARCH_KEYS = (PATIENT_NAME, PATIENT_ID, START_DATE_TIME, PROCEDURE_STEP_STATE, STUDY_UID, *SEQUENCE_KEYS)

RETURN_KEYS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        # SOP Common
        "SpecificCharacterSet",
        "SOPClassUID",
        "SOPInstanceUID",
        # Unified Procedure Step Scheduled Procedure Information
        "ScheduledProcedureStepPriority",
        "ScheduledProcedureStepModificationDateTime",
        "ProcedureStepLabel",
        "WorklistLabel",
        "ScheduledProcessingParametersSequence",
        "ScheduledStationNameCodeSequence",
        "ScheduledStationClassCodeSequence",
        "ScheduledStationGeographicLocationCodeSequence",
        "ScheduledHumanPerformersSequence",
        "ScheduledProcedureStepStartDateTime",
        "ExpectedCompletionDateTime",
        "ScheduledProcedureStepExpirationDateTime",
        "ScheduledWorkitemCodeSequence",
        "CommentsOnTheScheduledProcedureStep",
        "InputReadinessState",
        "InputInformationSequence",
        "StudyInstanceUID",
        "OutputDestinationSequence",
        # Unified Procedure Step Relationship
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "IssuerOfPatientIDQualifiersSequence",
        "OtherPatientIDsSequence",
        "PatientBirthDate",
        "PatientSex",
        "AdmissionID",
        "IssuerOfAdmissionIDSequence",
        "AdmittingDiagnosesDescription",
        "AdmittingDiagnosesCodeSequence",
        "ReferencedRequestSequence",
        "ReplacedProcedureStepSequence",
        # Patient Medical
        "MedicalAlerts",
        "PregnancyStatus",
        "SpecialNeeds",
        # Unified Procedure Step Progress Information
        "ProcedureStepState",
        "ProcedureStepProgressInformationSequence",
    )
)
"""The top-level attributes every search result holds when the workitem has them."""


@dataclass
class SearchValues:
    """A workitem's matching keys: one per top-level key (None without a value), a list per sequence key."""

    patient_name_key: str | None = None
    patient_name_words: str | None = None
    patient_id_key: str | None = None
    start_date_time: str | None = None
    study_uid: str | None = None
    sequence_values: list[tuple[str, str]] = field(default_factory=list)
    """(``SearchKey.path_text``, matching key) for each distinct value in any item."""


def match_key(vr: str, value: str) -> str | None:
    """The matching key of a value of ``vr``; None for a date-time that is no valid one."""
    if vr == "PN":
        return matching.person_name_key(value)
    if vr == "DT":
        return matching.date_time_key(value)
    if vr == "UI":
        return value.rstrip(" \0")
    return matching.text_key(value)


def search_values(ds: Dataset) -> SearchValues:
    """The matching keys of ``ds``'s searchable values (the first value of each top-level attribute)."""
    name = _first_value(ds, PATIENT_NAME)
    values = SearchValues(
        patient_name_key=None if name is None else match_key("PN", name),
        patient_name_words=None if name is None else matching.words_column(matching.person_name_words(name)),
        patient_id_key=_first_key(ds, PATIENT_ID),
        start_date_time=_first_key(ds, START_DATE_TIME),
        study_uid=_first_key(ds, STUDY_UID),
    )
    for key in SEQUENCE_KEYS:
        sequence_tag, item_tag = key.path
        sequence = ds.get(sequence_tag)
        found = set()
        for item in sequence.value or () if sequence is not None else ():
            element = item.get(item_tag)
            for value in string_values(element, key.vr, []) if element is not None else ():
                if value:
                    found.add(match_key(key.vr, value))
        values.sequence_values.extend((key.path_text, value) for value in sorted(found))
    return values


def _first_value(ds: Dataset, key: SearchKey) -> str | None:
    element = ds.get(key.path[0])
    values = string_values(element, key.vr, []) if element is not None else []
    return values[0] if values and values[0] else None


def _first_key(ds: Dataset, key: SearchKey) -> str | None:
    value = _first_value(ds, key)
    return None if value is None else match_key(key.vr, value)
