"""Starting an export (spec §11): the request checked, the destination prepared, the operation created."""

from __future__ import annotations

import uuid

from ...storage import operations, reindexing
from ..operations import EXPORT
from ..scope import Scope
from ..services import Services
from .destination import CHECK_OPTIONS, checked_destination, open_container, prepare_container
from .request import parse_export_request


async def start_export(services: Services, scope: Scope, body: bytes) -> str:
    """Checks the request and its destination and starts the export; returns the operation's id.

    Nothing is written anywhere before every check has passed; then the error log is created in
    the destination's container and the operation row in the index.
    """
    request = parse_export_request(body)
    destination = checked_destination(request.destination, services.settings.export_strict)
    operation_id = uuid.uuid4().hex
    async with open_container(services.settings, destination, CHECK_OPTIONS) as container:
        error_href = await prepare_container(container, destination, operation_id)
    state = {
        "partition_key": scope.partition_key,
        "destination": destination,
        "identifiers": None if request.identifiers is None else [item.text for item in request.identifiers],
        "next": 0,
        "after_key": 0,
        "results": {"exported": 0, "skipped": 0, "errorHref": error_href},
    }
    async with services.db.write() as conn:
        if request.identifiers is None:
            state["up_to_key"], _ = await reindexing.last_instance_key(conn)
        await operations.create(conn, operation_id, EXPORT, [], state)
    services.operations_wake.set()
    return operation_id
