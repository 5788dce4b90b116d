"""A workitem as the workitem rules see it: read from a request or from the index, saved under optimistic
concurrency, and the outcomes Azure answers as JSON string literals."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from pydicom.dataset import Dataset

from ...dicom.dicom_json_input import DicomJsonError, first_dataset, first_value_problem
from ...dicom.ups_dataset import dataset_from_json, dataset_json
from ...dicom.ups_search_keys import search_values
from ...dicom.ups_states import ProcedureStepState
from ...errors import BadRequest, Conflict, NotFound, ServiceError
from ...storage import workitems as queries
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid

NOT_FOUND = "The workitem instance is not found."
CHANGED_MEANWHILE = "The submitted request is inconsistent with the current state of the Workitem."
FINAL_STATE = "The workitem instance is already in the final state '{state}'. {code}."


def failure(kind: type[ServiceError], message: str, warning: bool = False) -> ServiceError:
    """A transaction's failure as Azure answers it: ``message`` as a JSON string (and a Warning if asked)."""
    return kind(message, quoted=True, warning=warning)


def now() -> datetime:
    """The time a workitem changes at."""
    return datetime.now(UTC)


def request_dataset(body: bytes, allow_empty_body: bool = False) -> Dataset:
    """The first dataset of a request's DICOM JSON array; 400 (plain text) for a body that is none."""
    try:
        return first_dataset(body, allow_empty_body)
    except DicomJsonError as exc:
        raise BadRequest(str(exc)) from exc


def require_valid_values(ds: Dataset) -> None:
    """400 (a JSON string) when a value of ``ds`` breaks its VR's rules."""
    problem = first_value_problem(ds)
    if problem:
        raise failure(BadRequest, problem)


@dataclass
class Workitem:
    """A stored workitem: its key, UID, state, the transaction UID that claimed it, its version and dataset."""

    key: int
    uid: str
    state: ProcedureStepState
    owner: str | None
    version: int
    dataset: Dataset


async def stored_json(services: Services, scope: Scope, uid: str) -> str:
    """The stored DICOM JSON of workitem ``uid`` (never with its transaction UID); 400 or 404 as Azure answers."""
    return (await _row(services, scope, uid)).dataset


async def load(services: Services, scope: Scope, uid: str) -> Workitem:
    """Workitem ``uid`` of the request's partition; 400 (plain text) for an invalid UID, 404 when there is none."""
    row = await _row(services, scope, uid)
    return Workitem(
        row.workitem_key,
        row.sop_uid,
        ProcedureStepState(row.state),
        row.transaction_uid,
        row.version,
        dataset_from_json(row.dataset),
    )


async def _row(services: Services, scope: Scope, uid: str):
    require_valid(uid)
    async with services.db.read() as conn:
        row = await queries.find_workitem(conn, scope.partition_key, normalized(uid))
    if row is None:
        raise failure(NotFound, NOT_FOUND)
    return row


async def add(services: Services, scope: Scope, uid: str, dataset: Dataset) -> int | None:
    """Stores a new SCHEDULED workitem; its key, or None when the partition has one with this UID already."""
    values = search_values(dataset)
    async with services.db.write() as conn:
        return await queries.add_workitem(
            conn,
            scope.partition_key,
            uid,
            ProcedureStepState.SCHEDULED.value,
            dataset_json(dataset),
            now(),
            _columns(values),
            values.sequence_values,
        )


async def save(
    services: Services, item: Workitem, state: ProcedureStepState, owner: str | None, dataset: Dataset
) -> None:
    """Replaces ``item``'s state, owner and dataset; 409 when another request changed it since it was loaded."""
    values = search_values(dataset)
    async with services.db.write() as conn:
        saved = await queries.change_workitem(
            conn,
            item.key,
            item.version,
            state.value,
            owner,
            dataset_json(dataset),
            _columns(values),
            values.sequence_values,
        )
    if not saved:
        raise failure(Conflict, CHANGED_MEANWHILE)


def _columns(values) -> dict:
    columns = asdict(values)
    del columns["sequence_values"]
    return columns
