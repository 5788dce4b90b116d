"""The export operation: copies instances to the destination container, a checkpointed batch at a time.

A batch takes the next instances in key order: of the identifiers one after the other (the
checkpoint keeps the next identifier's index and the last key copied of it), or of the whole
partition up to the last key at the time of the request. Their latest versions are copied byte
for byte, several uploads in flight. Identifiers that match nothing and copies that fail for good
are counted as skipped and logged to the error log; the counts are checkpointed with every batch.
A batch that fails for a transient reason is retried from the last checkpoint, so an instance may
be copied (and an error logged) more than once, as in Azure.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ...errors import INSTANCE_NOT_FOUND, resource_not_found
from ...storage import exporting, operations
from ...storage.azure_blob_client import BlobFailure, failure_of
from ...storage.blob_store import BlobNotFound
from ..blob_reads import WHOLE_READ_BYTES, blob_bytes, blob_chunks
from ..operations import LostOwnership
from ..services import Services
from .destination import RUN_OPTIONS, error_log_name, open_container, result_name
from .request import parse_identifier

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient
    from sqlalchemy.ext.asyncio import AsyncConnection

UPLOADS_IN_FLIGHT = 8


async def run_batch(services: Services, operation: Row, owner: str) -> bool:
    """Copies the next batch of the export; True when the export is finished (or no longer ours)."""
    settings = services.settings
    state = json.loads(operation.checkpoint)
    async with services.db.read() as conn:
        if not await operations.owns(conn, operation.operation_id, owner):
            return True
        rows, missing = await _next_instances(conn, state, settings.export_batch_size)
    failures: list[tuple[str, str]] = []
    if rows or missing:
        async with open_container(settings, state["destination"], RUN_OPTIONS) as container:
            failures = await _copy_all(services, container, operation.operation_id, rows)
            lines = [_log_line(identifier, error) for identifier, error in [*missing, *failures]]
            if lines:
                log = container.get_blob_client(error_log_name(operation.operation_id))
                await log.append_block("".join(lines).encode())
    results = state["results"]
    results["exported"] += len(rows) - len(failures)
    results["skipped"] += len(missing) + len(failures)
    sources = 1 if state["identifiers"] is None else len(state["identifiers"])
    finished = state["next"] >= sources
    status = operations.SUCCEEDED if finished else operations.RUNNING
    async with services.db.write() as conn:
        recorded = await operations.checkpoint(
            conn,
            operation.operation_id,
            owner,
            state,
            100 if finished else 0,
            settings.operation_lease_seconds,
            status,
        )
    if not recorded:
        raise LostOwnership(operation.operation_id)
    return finished


async def _next_instances(conn: AsyncConnection, state: dict, limit: int) -> tuple[list[Row], list[tuple[str, str]]]:
    """The instances to copy next and the identifiers found to match nothing, ``limit`` in all at most;
    advances ``state`` past them."""
    partition_key = state["partition_key"]
    if state["identifiers"] is None:
        page = await exporting.partition_instances_after(
            conn, partition_key, state["after_key"], state["up_to_key"], limit
        )
        if page:
            state["after_key"] = page[-1].instance_key
        if len(page) < limit:
            state["next"] = 1
        return page, []
    rows: list[Row] = []
    missing: list[tuple[str, str]] = []
    identifiers = state["identifiers"]
    while len(rows) + len(missing) < limit and state["next"] < len(identifiers):
        identifier = parse_identifier(identifiers[state["next"]])
        wanted = limit - len(rows) - len(missing)
        found = await exporting.instances_in_scope_after(
            conn,
            partition_key,
            identifier.study_uid,
            identifier.series_uid,
            identifier.sop_uid,
            state["after_key"],
            wanted,
        )
        if not found and state["after_key"] == 0:
            missing.append((identifier.text, resource_not_found(identifier.series_uid, identifier.sop_uid).message))
        rows.extend(found)
        if len(found) < wanted:
            state["next"] += 1
            state["after_key"] = 0
        else:
            state["after_key"] = found[-1].instance_key
    return rows, missing


async def _copy_all(
    services: Services, container: ContainerClient, operation_id: str, rows: list[Row]
) -> list[tuple[str, str]]:
    """Copies the instances, at most UPLOADS_IN_FLIGHT at a time; returns the (identifier, error) of each that
    failed for good. A transient failure cancels the other copies and is raised."""
    in_flight = asyncio.Semaphore(UPLOADS_IN_FLIGHT)
    failures: list[tuple[str, str]] = []

    async def copy(row: Row) -> None:
        async with in_flight:
            error = await _copy(services, container, operation_id, row)
        if error is not None:
            failures.append((f"{row.study_uid}/{row.series_uid}/{row.sop_uid}", error))

    async with asyncio.TaskGroup() as group:
        for row in rows:
            group.create_task(copy(row))
    return failures


async def _copy(services: Services, container: ContainerClient, operation_id: str, row: Row) -> str | None:
    """Copies one instance's stored file; None when done, the error to log when it failed for good."""
    name = result_name(operation_id, row.study_uid, row.series_uid, row.sop_uid)
    try:
        if row.size > WHOLE_READ_BYTES:
            data = blob_chunks(services, row.blob_key)
        else:
            data = await blob_bytes(services, row.blob_key, row.size)
        await container.upload_blob(name, data, length=row.size, overwrite=True)
    except BlobNotFound:
        return INSTANCE_NOT_FOUND  # deleted since the batch was read
    except Exception as exc:
        if failure_of(exc) not in (BlobFailure.REFUSED, BlobFailure.NOT_FOUND):
            raise  # worth another try: the batch is run again
        return str(exc).splitlines()[0]
    return None


def _log_line(identifier: str, error: str) -> str:
    """One line of the error log: ``{"timestamp", "identifier", "error"}`` as JSON, ending with a newline."""
    stamp = datetime.now(UTC).isoformat()
    return json.dumps({"timestamp": stamp, "identifier": identifier, "error": error}) + "\n"
