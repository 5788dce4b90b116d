"""STOW-RS: receive instances, validate them, and store them crash-safely (spec §3, DESIGN §4).

Every part is spooled to the staging area and examined in the CPU pool while the next part
arrives. Nothing is published until the whole body has been read, so a request-level error
(415, 413, a malformed body) leaves nothing behind. Then, batch by batch, one transaction writes
their rows and moves the files to their versioned keys before it commits (``commit``); if it fails,
the batch's files go again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ...dicom.extended_values import TagSpec
from ...dicom.store_response import store_response
from ...storage import tag_values
from ..extended_query_tags import spec_of
from ..scope import Scope
from ..services import Services
from .commit import Upload, commit_uploads
from .examination import Inspection, inspect_staged
from .spool import Spool

MAX_PARTS_IN_FLIGHT = 8
MULTIPLE_VALUES_WARNING = "One or more indexed Dicom tag(s) have multiple values, only first value is indexed."


@dataclass
class StoreOutcome:
    """The status, response dataset and warning flag of a STOW request."""

    status: int
    dataset: dict | None
    multiple_values_indexed: bool = False


async def store(
    services: Services,
    scope: Scope,
    parts: AsyncIterator[AsyncIterator[bytes]],
    study_uid: str | None,
    upsert: bool,
) -> StoreOutcome:
    """Stores every part of the request; POST keeps existing instances, PUT (``upsert``) replaces them."""
    async with services.db.read() as conn:
        extended_tags = tuple(spec_of(tag) for tag in await tag_values.all_tags(conn))
    uploads = await _receive(services, scope, parts, study_uid, extended_tags)
    if not uploads:
        return StoreOutcome(204, None)
    try:
        stored, failed = await commit_uploads(services, scope, uploads, upsert)
    finally:
        services.blobs.discard_staged(upload.staged for upload in uploads)
    if not stored:
        status = 409
    elif failed or (scope.api_version >= 2 and any(item.warning_reason is not None for item in stored)):
        status = 202
    else:
        status = 200
    dataset = store_response(
        scope.study_url(study_uid) if study_uid else None,
        stored,
        failed,
        with_failed_attributes=scope.api_version >= 2,
    )
    multiple = any(upload.inspection.multiple_values_indexed for upload in uploads)
    return StoreOutcome(status, dataset, multiple)


async def _receive(
    services: Services,
    scope: Scope,
    parts: AsyncIterator[AsyncIterator[bytes]],
    study_uid: str | None,
    extended_tags: tuple[TagSpec, ...],
) -> list[Upload]:
    """Spools every part and examines it in the pool; on any error, removes what it staged.

    Disk writes run in I/O threads so the event loop keeps reading the body meanwhile; at most
    MAX_PARTS_IN_FLIGHT parts wait for their writes at once, which bounds the memory in use.
    """
    in_flight = asyncio.Semaphore(MAX_PARTS_IN_FLIGHT)
    spools: list[Spool] = []
    tasks: list[asyncio.Future] = []
    try:
        async for chunks in parts:
            await in_flight.acquire()
            spool = Spool(services.io_pool, services.blobs.new_staging_path())
            spools.append(spool)
            try:
                async for chunk in chunks:
                    await spool.add(chunk)
            except BaseException:
                in_flight.release()
                raise
            tasks.append(asyncio.ensure_future(_finish(services, scope, spool, in_flight, study_uid, extended_tags)))
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Only once no I/O thread writes a staged file any more can it be removed for good.
        await asyncio.gather(*(spool.abandon() for spool in spools), return_exceptions=True)
        services.blobs.discard_staged(spool.path for spool in spools)
        raise
    return [Upload(spool.path, result) for spool, result in zip(spools, results, strict=True)]


async def _finish(
    services: Services,
    scope: Scope,
    spool: Spool,
    in_flight: asyncio.Semaphore,
    study_uid: str | None,
    extended_tags: tuple[TagSpec, ...],
) -> Inspection:
    try:
        await spool.close()
    finally:
        in_flight.release()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        services.cpu_pool, inspect_staged, str(spool.path), spool.size, scope.api_version, study_uid, extended_tags
    )


def response_body(dataset: dict) -> bytes:
    """The response dataset as bytes."""
    return json.dumps(dataset, separators=(",", ":")).encode()
