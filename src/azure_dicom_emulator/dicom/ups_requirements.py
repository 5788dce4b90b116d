"""What a Unified Procedure Step dataset must hold: PS3.4 Table CC.2.5-3 at N-CREATE and N-SET, and the
final-state requirements ("R", "P", "X") a workitem must meet to be COMPLETED or CANCELED.

Requirement codes, for the attributes the table names (any other attribute is optional):

* ``1``: present with a value; ``2``: present, maybe empty; ``E``: present and empty;
* ``-``: absent; ``O``: optional (types 1C, 2C and 3, which the service does not check).

Inside a sequence's items the items' requirements apply to every item the sequence holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from .attribute_ids import tag_label
from .ups_states import ProcedureStepState

__all__ = [
    "MISSING",
    "STATE_IN_UPDATE",
    "VALUE_MISSING",
    "create_problem",
    "final_state_problem",
    "update_problem",
]

MISSING = "The required tag '{tag}' is missing."
VALUE_MISSING = "The value for tag '{tag}' is missing."
MUST_BE_EMPTY = "The attribute with tag '{tag}' must be empty."
CANNOT_BE_PRESENT = "The attribute with tag '{tag}' cannot be present."
STATE_IN_UPDATE = "Procedure step state is present in the dataset provided to be updated which is not allowed."


@dataclass(frozen=True)
class Requirement:
    """One attribute of the table: its requirement code at N-CREATE, whether N-SET may carry it, its items'."""

    tag: int
    create: str
    settable: bool = True
    items: tuple[Requirement, ...] = ()


def _r(keyword: str, create: str, settable: bool = True, items: tuple[Requirement, ...] = ()) -> Requirement:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"no DICOM keyword {keyword}")
    return Requirement(tag, create, settable, items)


_CODE = (_r("CodeMeaning", "1"),)
"""The UPS code sequence macro (Table CC.2.5-2a): the code's meaning; value and scheme are type 1C."""
_CONTENT_ITEM = (_r("ValueType", "1"), _r("ConceptNameCodeSequence", "1", items=_CODE))
_REFERENCED_INSTANCES = (
    _r("TypeOfInstances", "1"),
    _r("ReferencedSOPSequence", "1", items=(_r("ReferencedSOPClassUID", "1"), _r("ReferencedSOPInstanceUID", "1"))),
)
_PROGRESS_AT_CREATE = tuple(
    _r(keyword, "-")
    for keyword in (
        "ProcedureStepProgress",
        "ProcedureStepProgressDescription",
        "ProcedureStepProgressParametersSequence",
        "ProcedureStepCommunicationsURISequence",
        "ProcedureStepCancellationDateTime",
        "ReasonForCancellation",
        "ProcedureStepDiscontinuationReasonCodeSequence",
    )
)
_PERFORMED_AT_CREATE = tuple(
    _r(keyword, "-")
    for keyword in (
        "ActualHumanPerformersSequence",
        "PerformedStationNameCodeSequence",
        "PerformedStationClassCodeSequence",
        "PerformedStationGeographicLocationCodeSequence",
        "PerformedProcedureStepStartDateTime",
        "PerformedProcedureStepDescription",
        "CommentsOnThePerformedProcedureStep",
        "PerformedWorkitemCodeSequence",
        "PerformedProcessingParametersSequence",
        "PerformedProcedureStepEndDateTime",
        "OutputInformationSequence",
    )
)

TABLE = (
    # SOP Common
    _r("SOPClassUID", "1", settable=False),
    _r("SOPInstanceUID", "1", settable=False),
    _r("TransactionUID", "E", settable=False),
    # Unified Procedure Step Scheduled Procedure Information
    _r("ScheduledProcedureStepPriority", "1"),
    _r("ScheduledProcedureStepModificationDateTime", "1"),
    _r("ProcedureStepLabel", "1"),
    _r("WorklistLabel", "2"),
    _r("ScheduledProcessingParametersSequence", "2", items=_CONTENT_ITEM),
    _r("ScheduledStationNameCodeSequence", "2", items=_CODE),
    _r("ScheduledStationClassCodeSequence", "2", items=_CODE),
    _r("ScheduledStationGeographicLocationCodeSequence", "2", items=_CODE),
    _r(
        "ScheduledHumanPerformersSequence",
        "O",
        items=(
            _r("HumanPerformerCodeSequence", "1", items=_CODE),
            _r("HumanPerformerName", "1"),
            _r("HumanPerformerOrganization", "1"),
        ),
    ),
    _r("ScheduledProcedureStepStartDateTime", "1"),
    _r("ScheduledWorkitemCodeSequence", "2", items=_CODE),
    _r("CommentsOnTheScheduledProcedureStep", "2"),
    _r("InputReadinessState", "1"),
    _r("InputInformationSequence", "2", items=_REFERENCED_INSTANCES),
    # Unified Procedure Step Relationship
    _r("PatientName", "2", settable=False),
    _r("PatientID", "O", settable=False),
    _r("IssuerOfPatientID", "2", settable=False),
    _r("IssuerOfPatientIDQualifiersSequence", "2", settable=False),
    _r("OtherPatientIDsSequence", "2"),
    _r("PatientBirthDate", "2", settable=False),
    _r("PatientSex", "2", settable=False),
    _r("AdmissionID", "2", settable=False),
    _r("IssuerOfAdmissionIDSequence", "2", settable=False),
    _r("AdmittingDiagnosesDescription", "2", settable=False),
    _r("AdmittingDiagnosesCodeSequence", "2", settable=False, items=_CODE),
    _r(
        "ReferencedRequestSequence",
        "2",
        settable=False,
        items=(
            _r("StudyInstanceUID", "1"),
            _r("AccessionNumber", "2"),
            _r("IssuerOfAccessionNumberSequence", "2"),
            _r("OrderPlacerIdentifierSequence", "2"),
            _r("OrderFillerIdentifierSequence", "2"),
            _r("RequestedProcedureID", "2"),
            _r("RequestedProcedureDescription", "2"),
            _r("RequestedProcedureCodeSequence", "2", items=_CODE),
        ),
    ),
    _r(
        "ReplacedProcedureStepSequence",
        "O",
        settable=False,
        items=(_r("ReferencedSOPClassUID", "1"), _r("ReferencedSOPInstanceUID", "1")),
    ),
    # Unified Procedure Step Progress Information, Performed Procedure Information
    _r("ProcedureStepState", "1", settable=False),
    _r("ProcedureStepProgressInformationSequence", "2", items=_PROGRESS_AT_CREATE),
    _r("UnifiedProcedureStepPerformedProcedureSequence", "2", items=_PERFORMED_AT_CREATE),
)

_PROCEDURE_STEP_STATE = tag_for_keyword("ProcedureStepState")


def create_problem(ds: Dataset) -> str | None:
    """The first N-CREATE requirement ``ds`` does not meet, in the service's words; None when it meets them all."""
    return _problem(ds, TABLE)


def update_problem(ds: Dataset) -> str | None:
    """The first attribute of ``ds`` that an update (N-SET) may not carry, in the service's words; None if none."""
    if _PROCEDURE_STEP_STATE in ds:
        return STATE_IN_UPDATE
    for requirement in TABLE:
        if not requirement.settable and requirement.tag in ds:
            return CANNOT_BE_PRESENT.format(tag=tag_label(requirement.tag))
    return None


def _problem(ds: Dataset, requirements: tuple[Requirement, ...]) -> str | None:
    for requirement in requirements:
        label = tag_label(requirement.tag)
        element = ds.get(requirement.tag)
        code = requirement.create
        if element is None:
            if code in ("1", "2", "E"):
                return MISSING.format(tag=label)
            continue
        if code == "-":
            return CANNOT_BE_PRESENT.format(tag=label)
        if code == "1" and _is_empty(element.value):
            return VALUE_MISSING.format(tag=label)
        if code == "E" and not _is_empty(element.value):
            return MUST_BE_EMPTY.format(tag=label)
        if element.VR == "SQ" and requirement.items:
            for item in element.value:
                if problem := _problem(item, requirement.items):
                    return problem
    return None


def _is_empty(value: object) -> bool:
    return value is None or value == "" or (hasattr(value, "__len__") and len(value) == 0)


# -- final states -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalRequirement:
    """An attribute a workitem needs before it reaches a final state; a sequence needs an item when ``items``."""

    tag: int
    items: tuple[FinalRequirement, ...] = ()
    when_present: bool = False  # required only where the sequence is present (code "RC")


def _f(keyword: str, items: tuple[FinalRequirement, ...] = (), when_present: bool = False) -> FinalRequirement:
    return FinalRequirement(_r(keyword, "O").tag, items, when_present)


_ALWAYS = tuple(
    _f(keyword)
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "ScheduledProcedureStepPriority",
        "ScheduledProcedureStepModificationDateTime",
        "ScheduledProcedureStepStartDateTime",
        "InputReadinessState",
        "ProcedureStepState",
    )
)
_FINAL = {
    ProcedureStepState.COMPLETED: (
        *_ALWAYS,
        _f(
            "UnifiedProcedureStepPerformedProcedureSequence",
            items=(
                _f(
                    "ActualHumanPerformersSequence",
                    items=(_f("HumanPerformerCodeSequence"), _f("HumanPerformerName")),
                    when_present=True,
                ),
                _f("PerformedStationNameCodeSequence"),
                _f("PerformedProcedureStepStartDateTime"),
                _f("PerformedWorkitemCodeSequence"),
                _f("PerformedProcedureStepEndDateTime"),
                _f("OutputInformationSequence"),
            ),
        ),
    ),
    ProcedureStepState.CANCELED: (
        *_ALWAYS,
        _f(
            "ProcedureStepProgressInformationSequence",
            items=(_f("ProcedureStepCancellationDateTime"), _f("ProcedureStepDiscontinuationReasonCodeSequence")),
        ),
    ),
}


def final_state_problem(ds: Dataset, state: ProcedureStepState) -> str | None:
    """The first attribute ``ds`` lacks to be in final ``state`` (COMPLETED or CANCELED); None when it has them all.

    Attributes need a value, except sequences without item requirements, which need only be present.
    """
    return _final_problem(ds, _FINAL[state])


def _final_problem(ds: Dataset, requirements: tuple[FinalRequirement, ...]) -> str | None:
    for requirement in requirements:
        label = tag_label(requirement.tag)
        element = ds.get(requirement.tag)
        if element is None:
            if requirement.when_present:
                continue
            return MISSING.format(tag=label)
        if element.VR == "SQ" and not requirement.items:
            continue
        if _is_empty(element.value):
            return VALUE_MISSING.format(tag=label)
        for item in element.value if requirement.items else ():
            if problem := _final_problem(item, requirement.items):
                return problem
    return None
