"""Changing a workitem's state and requesting its cancellation (PS3.18 §11.7, §11.8; PS3.4 Table CC.1.1-2)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from ...dicom.attribute_ids import tag_label
from ...dicom.ups_dataset import TRANSACTION_UID, cancel, with_state
from ...dicom.ups_requirements import MISSING, VALUE_MISSING, final_state_problem
from ...dicom.ups_states import FINAL_STATES, TARGET_STATES, ProcedureStepState, cancel_request, change_state
from ...errors import BadRequest, Conflict
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid
from .records import FINAL_STATE, failure, load, now, request_dataset, require_valid_values, save

PROCEDURE_STEP_STATE = 0x00741000
UNEXPECTED_STATE = "Expected value '{tag}' to be one of the following values: [{states}]"
CANNOT_TRANSITION = "The workitem instance can not transition to '{state}' state: {code}."
CANCELED = "The workitem instance has been cancelled."
ALREADY_CANCELED = "The UPS is already in the requested state of CANCELED."
ALREADY_COMPLETED = "The UPS is already COMPLETED."


async def change(services: Services, scope: Scope, uid: str, body: bytes) -> str | None:
    """Moves the workitem to the requested state with the request's transaction UID (N-ACTION).

    IN PROGRESS claims a SCHEDULED workitem for the transaction UID; only that UID moves it on to
    COMPLETED or CANCELED, once the merged dataset meets the final state's requirements. Returns the
    warning text of a final state asked for again by its owner (B304, B306), else None. 400 and 404
    as Azure answers them, as JSON strings; the state is unchanged then.
    """
    require_valid(uid)
    request = request_dataset(body)
    transaction_uid = normalized(_required_value(request, TRANSACTION_UID))
    asked = _required_value(request, PROCEDURE_STEP_STATE)
    target = next((state for state in TARGET_STATES if state.value == asked.strip()), None)
    if target is None:
        states = ", ".join(state.value for state in TARGET_STATES)
        raise failure(BadRequest, UNEXPECTED_STATE.format(tag=tag_label(PROCEDURE_STEP_STATE), states=states))
    require_valid_values(request)
    item = await load(services, scope, uid)
    transition = change_state(item.state, item.owner, target, transaction_uid)
    if transition.is_warning:
        return FINAL_STATE.format(state=item.state.value, code=transition.code)
    if transition.state is None:
        raise failure(BadRequest, CANNOT_TRANSITION.format(state=target.value, code=transition.code))
    dataset = with_state(item.dataset, target, now())
    if target in FINAL_STATES:
        problem = final_state_problem(dataset, target)
        if problem:
            raise failure(BadRequest, problem)
    owner = transaction_uid if target == ProcedureStepState.IN_PROGRESS else item.owner
    await save(services, item, target, owner, dataset)
    return None


async def request_cancellation(services: Services, scope: Scope, uid: str, body: bytes) -> str:
    """Cancels a SCHEDULED workitem, filling in the cancellation time, reason and contact; the answer's text.

    The body (a DICOM JSON array, or nothing) may give ReasonForCancellation, a discontinuation reason
    code, ContactURI and ContactDisplayName. A workitem in progress, completed or already canceled
    is left as it is: 409 with the reason as a JSON string and in a Warning header. 404 when unknown.
    """
    require_valid(uid)
    request = request_dataset(body, allow_empty_body=True)
    require_valid_values(request)
    item = await load(services, scope, uid)
    transition = cancel_request(item.state)
    if transition.state is None:
        raise failure(Conflict, _cancel_refusal(transition.code), warning=True)
    await save(services, item, ProcedureStepState.CANCELED, item.owner, cancel(item.dataset, request, now()))
    return CANCELED


def _cancel_refusal(code: str) -> str:
    if code == "B304":
        return ALREADY_CANCELED
    if code == "C311":
        return ALREADY_COMPLETED
    return CANNOT_TRANSITION.format(state=ProcedureStepState.CANCELED.value, code=code)


def _required_value(ds: Dataset, tag: int) -> str:
    element = ds.get(tag)
    if element is None:
        raise failure(BadRequest, MISSING.format(tag=tag_label(tag)))
    if not element.value:
        raise failure(BadRequest, VALUE_MISSING.format(tag=tag_label(tag)))
    return str(element.value)
