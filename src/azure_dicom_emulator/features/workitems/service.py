"""Creating, retrieving and updating workitems (PS3.18 §11.4-11.6), with Azure's checks and answers (spec §13)."""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset

from ...dicom.ups_dataset import merged, prepare_new
from ...dicom.ups_requirements import create_problem, update_problem
from ...dicom.ups_states import FINAL_STATES, ProcedureStepState
from ...errors import BadRequest, Conflict
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid
from .records import FINAL_STATE, failure, load, now, request_dataset, require_valid_values, save, stored_json
from .records import add as add_workitem

AFFECTED_SOP_INSTANCE_UID = "AffectedSOPInstanceUID"
UID_MISMATCH = "SOPInstanceUID in the payload does not match the workitem query parameter."
ALREADY_EXISTS = "The workitem instance already exists. Try creating using a different UID."
TRANSACTION_UID_MISSING = "The transaction UID is missing."
TRANSACTION_UID_INVALID = "Invalid TransactionUID for the specified Workitem Instance UID."


def first_query_key(pairs: list[tuple[str, str]]) -> str | None:
    """The name of the first query parameter, where Azure reads a workitem's or a transaction's UID."""
    return pairs[0][0] if pairs else None


@dataclass(frozen=True)
class NewWorkitem:
    """A create request that passed every check: the workitem's UID and its dataset as it will be stored."""

    uid: str
    dataset: Dataset


def check_new(pairs: list[tuple[str, str]], body: bytes) -> NewWorkitem:
    """The workitem a create request describes, once the service's values are set and the N-CREATE requirements
    (PS3.4 Table CC.2.5-3) are met; 400 in Azure's words otherwise (a JSON string for the dataset's faults).

    The UID is the first query key (``?{uid}``), the value of ``AffectedSOPInstanceUID``, or else the
    dataset's SOPInstanceUID.
    """
    uid = first_query_key(pairs)
    if uid == AFFECTED_SOP_INSTANCE_UID:
        uid = pairs[0][1]
    require_valid(uid)
    ds = request_dataset(body)
    given = ds.get("SOPInstanceUID")
    if uid is not None and given and normalized(str(given)) != normalized(uid):
        raise failure(BadRequest, UID_MISMATCH)
    prepare_new(ds, normalized(uid), now())
    problem = create_problem(ds)
    if problem:
        raise failure(BadRequest, problem)
    require_valid_values(ds)
    return NewWorkitem(normalized(str(ds.SOPInstanceUID)), ds)


async def create(services: Services, scope: Scope, new: NewWorkitem) -> str:
    """Stores the new workitem, SCHEDULED; its URL. 409 (a JSON string) when the partition has its UID already."""
    if await add_workitem(services, scope, new.uid, new.dataset) is None:
        raise failure(Conflict, ALREADY_EXISTS)
    return scope.workitem_url(new.uid)


async def retrieve(services: Services, scope: Scope, uid: str) -> bytes:
    """The workitem's DICOM JSON object, never with its transaction UID; 404 (a JSON string) when there is none."""
    return (await stored_json(services, scope, uid)).encode("utf-8")


async def update(services: Services, scope: Scope, uid: str, pairs: list[tuple[str, str]], body: bytes) -> str:
    """Merges the request's dataset into the workitem (N-SET); its URL.

    The transaction UID (the first query key) must be absent while the workitem is SCHEDULED and be the
    owner's while it is IN PROGRESS; a workitem in a final state is not updated. Attributes N-SET may not
    carry are refused. 400, 404 and 409 as Azure answers them, as JSON strings.
    """
    require_valid(uid)
    transaction_uid = first_query_key(pairs)
    changes = request_dataset(body)
    problem = update_problem(changes)
    if problem:
        raise failure(BadRequest, problem)
    require_valid_values(changes)
    item = await load(services, scope, uid)
    if item.state in FINAL_STATES:
        raise failure(BadRequest, FINAL_STATE.format(state=item.state.value, code="C300"))
    if item.state == ProcedureStepState.SCHEDULED and transaction_uid is not None:
        raise failure(BadRequest, TRANSACTION_UID_INVALID)
    if item.state == ProcedureStepState.IN_PROGRESS:
        if transaction_uid is None:
            raise failure(BadRequest, TRANSACTION_UID_MISSING)
        if normalized(transaction_uid) != item.owner:
            raise failure(BadRequest, TRANSACTION_UID_INVALID)
    await save(services, item, item.state, item.owner, merged(item.dataset, changes, now()))
    return scope.workitem_url(item.uid)
