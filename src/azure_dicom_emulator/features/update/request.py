"""The body of ``POST studies/$bulkUpdate`` read and checked in Azure's order, with its texts (spec §10)."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, tag_for_keyword

from ...dicom.element_update import change_dataset
from ...dicom.store_response import failed_attributes
from ...dicom.value_rules import element_vr_problem, is_valid_uid
from ...errors import INVALID_UID_MESSAGE, BadRequest
from ..json_body import SYNTAX_ERROR, case_insensitive, load_json

MAX_STUDIES = 50
MAX_BODY_BYTES = 16 * 1024 * 1024
MISSING_STUDIES = "The required field 'StudyInstanceUids' is missing or empty."
TOO_MANY_STUDIES = f"StudyInstanceUids count exceeded maximum length '{MAX_STUDIES}'"
INVALID_STUDY_UID = f"Dicom element 'StudyInstanceUid' failed validation for VR 'UI': {INVALID_UID_MESSAGE}"
NOT_SUPPORTED = "Updating the tag is not supported"
MISSING_CHANGE_DATASET = "The ChangeDataset field is required."
_ENCODINGS = ["iso8859"]

UPDATABLE_TAGS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        # Patient Identification and Patient Demographic, their attributes that are not sequences
        "PatientName",
        "PatientID",
        "OtherPatientIDs",
        "TypeOfPatientID",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "MedicalRecordLocator",
        "IssuerOfPatientID",
        "PatientAge",
        "Occupation",
        "ConfidentialityConstraintOnPatientDataDescription",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientSex",
        "QualityControlSubject",
        "PatientSize",
        "PatientWeight",
        "PatientAddress",
        "MilitaryRank",
        "BranchOfService",
        "CountryOfResidence",
        "RegionOfResidence",
        "PatientTelephoneNumbers",
        "EthnicGroup",
        "PatientReligiousPreference",
        "PatientComments",
        "ResponsiblePerson",
        "ResponsiblePersonRole",
        "ResponsibleOrganization",
        "PatientSpeciesDescription",
        "PatientBreedDescription",
        "BreedRegistrationNumber",
        # General Study
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyDescription",
    )
)
"""The attributes a bulk update may change (spec §10)."""


class InvalidChangeDataset(BadRequest):
    """Elements of the change dataset that may not be updated or whose values break their VR: Azure
    answers with a DICOM JSON dataset listing them, not plain text."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages

    def dataset(self) -> dict:
        """The response body: a FailedAttributesSequence with one item per offending element."""
        return {"00741048": failed_attributes(self.messages)}


@dataclass(frozen=True)
class UpdateRequest:
    """A bulk update that passed model binding: the studies (as sent) and the DICOM JSON change dataset."""

    study_uids: list[str]
    change_dataset: dict


def parse_update_request(body: bytes) -> UpdateRequest:
    """The request in ``body``, model-bound as Azure binds it: 400 for bad JSON or wrong shapes.

    Property names match case-insensitively; unknown properties are ignored.
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(SYNTAX_ERROR)
    document = load_json(body)
    if not isinstance(document, dict):
        raise _binding_error("$", "an update specification")
    fields = case_insensitive(document)
    uids = fields.get("studyinstanceuids")
    if uids is not None and (not isinstance(uids, list) or not all(isinstance(uid, str) for uid in uids)):
        raise _binding_error("$.studyInstanceUids", "a list of study instance UIDs")
    changes = fields.get("changedataset")
    if changes is not None and not isinstance(changes, dict):
        raise _binding_error("$.changeDataset", "a DICOM dataset")
    return UpdateRequest(study_uids=uids or [], change_dataset=changes)


def check_update_request(request: UpdateRequest) -> None:
    """The request's checks after model binding, in Azure's order: the studies, then the change dataset."""
    if not request.study_uids:
        raise BadRequest(MISSING_STUDIES)
    if len(request.study_uids) > MAX_STUDIES:
        raise BadRequest(TOO_MANY_STUDIES)
    for uid in request.study_uids:
        if not is_valid_uid(uid):
            raise BadRequest(INVALID_STUDY_UID)
    if request.change_dataset is None:
        raise BadRequest(f"The field 'ChangeDataset' in request body is invalid: {MISSING_CHANGE_DATASET}")
    try:
        dataset = change_dataset(request.change_dataset)
    except ValueError as exc:
        raise _binding_error("$.changeDataset", "a DICOM dataset") from exc
    messages = []
    for elem in dataset:
        tag = int(elem.tag)
        problem = _element_problem(tag, elem)
        if problem is not None:
            messages.append(f"DICOM100: ({tag >> 16:04x},{tag & 0xFFFF:04x}) - {problem}")
    if messages:
        raise InvalidChangeDataset(messages)


def _element_problem(tag: int, elem) -> str | None:
    """Why the element may not be part of an update: a tag not on the list, another VR, or a bad value."""
    if tag not in UPDATABLE_TAGS:
        return NOT_SUPPORTED
    expected = dictionary_VR(tag)
    if expected != elem.VR:
        return f"The VR '{elem.VR}' does not match the VR '{expected}' of the tag"
    problem, _ = element_vr_problem(elem, elem.VR, _ENCODINGS)
    return problem


def _binding_error(path: str, kind: str) -> BadRequest:
    return BadRequest(
        f"The field '{path}' in request body is invalid: The JSON value could not be converted to {kind}."
    )
