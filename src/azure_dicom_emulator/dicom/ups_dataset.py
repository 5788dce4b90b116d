"""Workitem datasets as the service rewrites them: the values it sets at create, the merge of an update,
the state and the cancellation attributes it fills in, and the DICOM JSON it keeps.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime

from pydicom.dataset import Dataset

from .dicom_json import dataset_to_dicom_json
from .ups_states import ProcedureStepState

__all__ = [
    "TRANSACTION_UID",
    "UPS_PUSH_SOP_CLASS",
    "WORKLIST_LABEL",
    "cancel",
    "dataset_from_json",
    "dataset_json",
    "merged",
    "prepare_new",
    "with_state",
]

UPS_PUSH_SOP_CLASS = "1.2.840.10008.5.1.4.34.6.1"
WORKLIST_LABEL = "worklist"
TRANSACTION_UID = 0x00081195
_DISCONTINUED_FOR_UNSPECIFIED_REASON = ("110513", "DCM", "Discontinued for unspecified reason")


def dicom_date_time(moment: datetime) -> str:
    """``moment`` as a DT value, ``YYYYMMDDHHMMSS.FFFFFF``."""
    return moment.strftime("%Y%m%d%H%M%S.%f")


def prepare_new(ds: Dataset, sop_uid: str | None, now: datetime) -> None:
    """Sets what the service decides for a new workitem, before any check: the UPS Push SOP class, the time,
    the ``worklist`` label, SCHEDULED, and the UID of the request (``sop_uid``) when it names one."""
    ds.SOPClassUID = UPS_PUSH_SOP_CLASS
    ds.ScheduledProcedureStepModificationDateTime = dicom_date_time(now)
    ds.WorklistLabel = WORKLIST_LABEL
    ds.ProcedureStepState = ProcedureStepState.SCHEDULED.value
    if sop_uid is not None:
        ds.SOPInstanceUID = sop_uid


def merged(stored: Dataset, changes: Dataset, now: datetime) -> Dataset:
    """``stored`` with each attribute of ``changes`` in place of its own (a sequence replaced whole), and the
    modification time ``now``."""
    result = copy.deepcopy(stored)
    for element in changes:
        result[element.tag] = copy.deepcopy(element)
    result.ScheduledProcedureStepModificationDateTime = dicom_date_time(now)
    return result


def with_state(stored: Dataset, state: ProcedureStepState, now: datetime) -> Dataset:
    """``stored`` in ``state``, modified ``now``."""
    result = copy.deepcopy(stored)
    result.ProcedureStepState = state.value
    result.ScheduledProcedureStepModificationDateTime = dicom_date_time(now)
    return result


def cancel(stored: Dataset, request: Dataset, now: datetime) -> Dataset:
    """``stored`` CANCELED by ``request`` at ``now``: the progress information gets the cancellation time, the
    request's reason (or "Discontinued for unspecified reason") and its contact, if it gave one."""
    result = with_state(stored, ProcedureStepState.CANCELED, now)
    progress = result.get("ProcedureStepProgressInformationSequence")
    if not progress:
        result.ProcedureStepProgressInformationSequence = [Dataset()]
        progress = result.ProcedureStepProgressInformationSequence
    item = progress[0]
    item.ProcedureStepCancellationDateTime = dicom_date_time(now)
    if request.get("ReasonForCancellation"):
        item.ReasonForCancellation = request.ReasonForCancellation
    reasons = request.get("ProcedureStepDiscontinuationReasonCodeSequence")
    if reasons:
        item.ProcedureStepDiscontinuationReasonCodeSequence = copy.deepcopy(reasons)
    else:
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = _DISCONTINUED_FOR_UNSPECIFIED_REASON
        item.ProcedureStepDiscontinuationReasonCodeSequence = [code]
    if request.get("ContactURI"):
        contact = Dataset()
        contact.ContactURI = request.ContactURI
        if request.get("ContactDisplayName"):
            contact.ContactDisplayName = request.ContactDisplayName
        item.ProcedureStepCommunicationsURISequence = [contact]
    return result


def dataset_json(ds: Dataset) -> str:
    """The DICOM JSON the service keeps of a workitem: every attribute but the Transaction UID."""
    return dataset_to_dicom_json(ds, exclude=(TRANSACTION_UID,)).decode("utf-8")


def dataset_from_json(text: str) -> Dataset:
    """The dataset of DICOM JSON kept by `dataset_json`."""
    return Dataset.from_json(json.loads(text))
