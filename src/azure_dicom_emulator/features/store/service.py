"""STOW-RS: receive instances, validate them, and store them crash-safely (spec §3, DESIGN §4).

Every part is spooled to the staging area, examined in the CPU pool and, when it passes, published
under the key of a newly reserved version (``version_numbers``) while the next part arrives. Once the
whole body has been read, batch by batch, one transaction writes their rows (``commit``). Every file
whose rows did not commit is removed before the answer goes: a request-level error (415, 413, a
malformed body), a refused or failed instance, leave nothing behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ...dicom import store_response as codes
from ...dicom.extended_values import TagSpec
from ...dicom.store_response import store_response
from ...storage import tag_values
from ...storage.blob_store import instance_key
from ..extended_query_tags import spec_of
from ..scope import Scope
from ..services import Services
from ..version_numbers import VersionNumbers
from .commit import Upload, commit_uploads
from .examination import inspect_staged
from .spool import Spool

log = logging.getLogger(__name__)
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
        await services.blobs.delete(upload.key for upload in uploads if upload.key and not upload.committed)
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
    """Spools, examines and publishes every part; on any error, removes what it staged and published.

    Disk writes run in I/O threads so the event loop keeps reading the body meanwhile; at most
    MAX_PARTS_IN_FLIGHT parts wait for their writes at once, which bounds the memory in use.
    """
    in_flight = asyncio.Semaphore(MAX_PARTS_IN_FLIGHT)
    numbers = VersionNumbers(services)
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
            part = _finish(services, scope, spool, in_flight, numbers, study_uid, extended_tags)
            tasks.append(asyncio.ensure_future(part))
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Only once no I/O thread writes a staged file any more can it be removed for good.
        await asyncio.gather(*(spool.abandon() for spool in spools), return_exceptions=True)
        services.blobs.discard_staged(spool.path for spool in spools)
        published = (task.result().key for task in tasks if not task.cancelled() and task.exception() is None)
        await services.blobs.delete(key for key in published if key)
        raise


async def _finish(
    services: Services,
    scope: Scope,
    spool: Spool,
    in_flight: asyncio.Semaphore,
    numbers: VersionNumbers,
    study_uid: str | None,
    extended_tags: tuple[TagSpec, ...],
) -> Upload:
    """The part's file closed, examined and, when it can be stored, published under a new version's key.

    The parts take their numbers first, in the order they came (the tasks start in that order and the
    numbers' lock is fair), so versions follow the request's order whichever part is examined first.
    """
    try:
        number = await numbers.take()
        await spool.close()
    finally:
        in_flight.release()
    loop = asyncio.get_running_loop()
    inspection = await loop.run_in_executor(
        services.cpu_pool, inspect_staged, str(spool.path), spool.size, scope.api_version, study_uid, extended_tags
    )
    if inspection.failure_reason is not None:
        return Upload(spool.path, inspection)
    key = instance_key(scope.partition_key, *inspection.instance_id, number)
    try:
        await services.blobs.publish([(spool.path, key)])
    except Exception:
        log.exception("publishing a stored instance's file failed")
        inspection.failure_reason = codes.PROCESSING_FAILURE
        return Upload(spool.path, inspection)
    return Upload(spool.path, inspection, number, key)


def response_body(dataset: dict) -> bytes:
    """The response dataset as bytes."""
    return json.dumps(dataset, separators=(",", ":")).encode()
