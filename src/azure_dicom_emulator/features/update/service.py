"""Starting a bulk update: ``POST /v2/[partitions/{p}/]studies/$bulkUpdate`` (spec §10)."""

from __future__ import annotations

import uuid

from ...errors import Conflict, NotFound
from ...storage import operations
from ..operations import UPDATE
from ..scope import Scope
from ..services import Services
from ..uids import normalized
from .operation import initial_state
from .request import check_update_request, parse_update_request

ACTIVE_UPDATE = "There is already an active update operation with ID '{id}'."


async def start_update(services: Services, scope: Scope, body: bytes) -> str:
    """Checks the request in Azure's order and starts its update operation; returns the operation's id.

    400 for a body that does not bind or fails a check (InvalidChangeDataset for the change dataset),
    404 below API version 2, 409 while another update operation is active in any partition.
    """
    request = parse_update_request(body)
    if scope.api_version < 2:
        raise NotFound()
    check_update_request(request)
    operation_id = uuid.uuid4().hex
    study_uids = [normalized(uid) for uid in request.study_uids]
    async with services.db.write() as conn:
        await operations.lock_type(conn, UPDATE)
        active = await operations.active_of_type(conn, UPDATE)
        if active is not None:
            raise Conflict(ACTIVE_UPDATE.format(id=active.operation_id))
        state = initial_state(scope, study_uids, request.change_dataset)
        await operations.create(conn, operation_id, UPDATE, [], state)
    services.operations_wake.set()
    return operation_id
