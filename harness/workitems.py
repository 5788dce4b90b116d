"""Workitem (UPS-RS) datasets and request bodies, for the tests and the benchmarks."""

from __future__ import annotations

import json
import re

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

DICOM_JSON = "application/dicom+json"
HEADERS = {"Accept": DICOM_JSON, "Content-Type": DICOM_JSON}
_TAG = re.compile(r"[0-9A-F]{8}")


def code(value: str, meaning: str | None = None) -> Dataset:
    """A code sequence item."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "99TEST"
    item.CodeMeaning = meaning or f"Code {value}"
    return item


def workitem(**attributes) -> Dataset:
    """A dataset meeting every N-CREATE requirement; keyword arguments set or replace attributes."""
    ds = Dataset()
    ds.TransactionUID = ""
    ds.ScheduledProcedureStepPriority = "MEDIUM"
    ds.ProcedureStepLabel = "Chest review"
    ds.WorklistLabel = ""
    ds.ScheduledProcessingParametersSequence = []
    ds.ScheduledStationNameCodeSequence = [code("STATION1")]
    ds.ScheduledStationClassCodeSequence = [code("CLASS1")]
    ds.ScheduledStationGeographicLocationCodeSequence = [code("GEO1")]
    ds.ScheduledProcedureStepStartDateTime = "20240102103000"
    ds.ScheduledWorkitemCodeSequence = []
    ds.CommentsOnTheScheduledProcedureStep = ""
    ds.InputReadinessState = "READY"
    ds.InputInformationSequence = []
    ds.StudyInstanceUID = generate_uid()
    ds.PatientName = "Gamma^Gil"
    ds.PatientID = "PID-1"
    ds.IssuerOfPatientID = ""
    ds.IssuerOfPatientIDQualifiersSequence = []
    ds.OtherPatientIDsSequence = []
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.AdmissionID = ""
    ds.IssuerOfAdmissionIDSequence = []
    ds.AdmittingDiagnosesDescription = ""
    ds.AdmittingDiagnosesCodeSequence = []
    request = Dataset()
    request.StudyInstanceUID = ds.StudyInstanceUID
    request.AccessionNumber = "ACC-1"
    request.IssuerOfAccessionNumberSequence = []
    request.OrderPlacerIdentifierSequence = []
    request.OrderFillerIdentifierSequence = []
    request.RequestedProcedureID = "RP-1"
    request.RequestedProcedureDescription = ""
    request.RequestedProcedureCodeSequence = []
    ds.ReferencedRequestSequence = [request]
    ds.ProcedureStepProgressInformationSequence = []
    ds.UnifiedProcedureStepPerformedProcedureSequence = []
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def completion() -> Dataset:
    """What an update adds so that a workitem may be COMPLETED (the performed procedure)."""
    performed = Dataset()
    performed.PerformedStationNameCodeSequence = [code("STATION1")]
    performed.PerformedProcedureStepStartDateTime = "20240102103000"
    performed.PerformedWorkitemCodeSequence = [code("WORK1")]
    performed.PerformedProcedureStepEndDateTime = "20240102113000"
    performed.OutputInformationSequence = []
    ds = Dataset()
    ds.UnifiedProcedureStepPerformedProcedureSequence = [performed]
    return ds


def cancellation() -> Dataset:
    """What an update adds so that a workitem in progress may be CANCELED by its owner."""
    progress = Dataset()
    progress.ProcedureStepCancellationDateTime = "20240102110000"
    progress.ProcedureStepDiscontinuationReasonCodeSequence = [code("110514", "Incorrect worklist entry selected")]
    ds = Dataset()
    ds.ProcedureStepProgressInformationSequence = [progress]
    return ds


def state_change(transaction_uid: str | None, state: str | None) -> Dataset:
    """A change-state request's dataset; None leaves an attribute out."""
    ds = Dataset()
    if transaction_uid is not None:
        ds.TransactionUID = transaction_uid
    if state is not None:
        ds.ProcedureStepState = state
    return ds


def body(ds: Dataset) -> bytes:
    """A DICOM JSON array holding ``ds``."""
    return json.dumps([ds.to_json_dict()]).encode()


def assert_annex_f(dataset: dict) -> None:
    """Fails unless ``dataset`` is a PS3.18 Annex F DICOM JSON object with no empty ``Value`` array."""
    assert isinstance(dataset, dict)
    for key, attribute in dataset.items():
        assert _TAG.fullmatch(key), key
        assert set(attribute) <= {"vr", "Value", "InlineBinary", "BulkDataURI"}, attribute
        assert isinstance(attribute["vr"], str) and len(attribute["vr"]) == 2
        if "Value" in attribute:
            assert isinstance(attribute["Value"], list) and attribute["Value"], (key, attribute)
            for value in attribute["Value"]:
                if attribute["vr"] == "SQ":
                    assert_annex_f(value)
                elif attribute["vr"] == "PN" and value is not None:
                    assert isinstance(value, dict) and set(value) <= {"Alphabetic", "Ideographic", "Phonetic"}
