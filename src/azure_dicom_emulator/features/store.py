"""STOW-RS: receive instances, validate them, and store them crash-safely (spec §3, DESIGN §4).

Every part is spooled to the staging area and examined in the CPU pool while the next part
arrives. Nothing is published until the whole body has been read, so a request-level error
(415, 413, a malformed body) leaves nothing behind. Then, batch by batch, files move to their
versioned keys and one transaction writes their rows; if it fails, the batch's files go again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from ..dicom import store_response as codes
from ..dicom.store_response import FailedInstance, StoredInstance, store_response
from ..storage import index
from ..storage.blobs import instance_key
from .inspect import Inspection, inspect_staged
from .scope import Scope
from .services import Services

log = logging.getLogger(__name__)
BATCH_SIZE = 200
MULTIPLE_VALUES_WARNING = "One or more indexed Dicom tag(s) have multiple values, only first value is indexed."


@dataclass
class StoreOutcome:
    """The status, response dataset and warning flag of a STOW request."""

    status: int
    dataset: dict | None
    multiple_values_indexed: bool = False


@dataclass
class _Upload:
    staged: Path
    inspection: Inspection


async def store(
    services: Services,
    scope: Scope,
    parts: AsyncIterator[AsyncIterator[bytes]],
    study_uid: str | None,
    upsert: bool,
) -> StoreOutcome:
    """Stores every part of the request; POST keeps existing instances, PUT (``upsert``) replaces them."""
    uploads = await _receive(services, scope, parts, study_uid)
    if not uploads:
        return StoreOutcome(204, None)
    try:
        stored, failed = await _commit(services, scope, uploads, upsert)
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
    services: Services, scope: Scope, parts: AsyncIterator[AsyncIterator[bytes]], study_uid: str | None
) -> list[_Upload]:
    """Spools every part and examines it in the pool; on any error, removes what it staged."""
    loop = asyncio.get_running_loop()
    staged_paths: list[Path] = []
    inspections: list[asyncio.Future] = []
    try:
        async for chunks in parts:
            staged = services.blobs.new_staging_path()
            staged_paths.append(staged)
            size = 0
            with open(staged, "wb") as out:
                async for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
            inspections.append(
                loop.run_in_executor(services.cpu_pool, inspect_staged, str(staged), size, scope.api_version, study_uid)
            )
        results = await asyncio.gather(*inspections)
    except BaseException:
        for future in inspections:
            future.cancel()
        await asyncio.gather(*inspections, return_exceptions=True)
        services.blobs.discard_staged(staged_paths)
        raise
    return [_Upload(staged, result) for staged, result in zip(staged_paths, results, strict=True)]


async def _commit(
    services: Services, scope: Scope, uploads: list[_Upload], upsert: bool
) -> tuple[list[StoredInstance], list[FailedInstance]]:
    stored: list[StoredInstance] = []
    failed: list[FailedInstance] = []
    seen: set[tuple[str, str, str]] = set()
    batch: list[_Upload] = []
    for upload in uploads:
        inspection = upload.inspection
        if inspection.failure_reason is not None:
            failed.append(_failure(inspection, inspection.failure_reason))
        elif inspection.instance_id in seen:
            failed.append(_failure(inspection, codes.SOP_INSTANCE_ALREADY_EXISTS))
        else:
            seen.add(inspection.instance_id)
            batch.append(upload)
    for start in range(0, len(batch), BATCH_SIZE):
        chunk = batch[start : start + BATCH_SIZE]
        outcome = await _commit_batch_with_retry(services, scope, chunk, upsert)
        for upload in chunk:
            inspection = upload.inspection
            reason = outcome.get(inspection.instance_id)
            if reason is None:
                stored.append(
                    StoredInstance(
                        sop_class_uid=inspection.sop_class_uid or "",
                        sop_instance_uid=inspection.sop_uid or "",
                        retrieve_url=scope.instance_url(*inspection.instance_id),
                        warning_reason=inspection.warning_reason,
                        messages=inspection.messages,
                    )
                )
            else:
                failed.append(_failure(inspection, reason))
    return stored, failed


async def _commit_batch_with_retry(
    services: Services, scope: Scope, batch: list[_Upload], upsert: bool
) -> dict[tuple[str, str, str], int]:
    """Stores a batch; returns the failure reason of each instance that was not stored."""
    for attempt in range(3):
        try:
            return await _commit_batch(services, scope, batch, upsert)
        except IntegrityError:
            # Another request stored one of these instances between our lookup and insert:
            # the next attempt sees it and reports it as existing (or replaces it on PUT).
            log.info("store batch raced with another writer; retrying (attempt %d)", attempt + 1)
        except Exception:
            log.exception("store batch failed")
            return {upload.inspection.instance_id: codes.PROCESSING_FAILURE for upload in batch}
    return {upload.inspection.instance_id: codes.PENDING_INSTANCE for upload in batch}


async def _commit_batch(
    services: Services, scope: Scope, batch: list[_Upload], upsert: bool
) -> dict[tuple[str, str, str], int]:
    blobs = services.blobs
    refused: dict[tuple[str, str, str], int] = {}
    published: list[str] = []
    superseded: list[str] = []
    try:
        async with services.db.write() as conn:
            existing = await index.find_instances(conn, scope.partition_key, [u.inspection.instance_id for u in batch])
            if not upsert:
                refused = {key: codes.SOP_INSTANCE_ALREADY_EXISTS for key in existing}
            accepted = [u for u in batch if u.inspection.instance_id not in refused]
            if not accepted:
                return refused
            versions = await index.allocate_versions(conn, len(accepted))
            study_keys: dict[str, int] = {}
            series_keys: dict[tuple[str, str], int] = {}
            for upload in accepted:  # request order: the last instance's values win
                inspection = upload.inspection
                study_uid, series_uid, _ = inspection.instance_id
                study_keys[study_uid] = await index.upsert_study(
                    conn, scope.partition_key, study_uid, inspection.study_values
                )
                series_keys[(study_uid, series_uid)] = await index.upsert_series(
                    conn, scope.partition_key, study_keys[study_uid], series_uid, inspection.series_values
                )
            now = datetime.now(UTC)
            new_rows = []
            changes = []
            for upload, version in zip(accepted, versions, strict=True):
                inspection = upload.inspection
                study_uid, series_uid, sop_uid = inspection.instance_id
                key = instance_key(scope.partition_key, study_uid, series_uid, sop_uid, version)
                blobs.publish(upload.staged, key)
                published.append(key)
                row = {
                    "study_key": study_keys[study_uid],
                    "series_key": series_keys[(study_uid, series_uid)],
                    "sop_class_uid": inspection.sop_class_uid,
                    "transfer_syntax_uid": inspection.transfer_syntax_uid,
                    "version": version,
                    "blob_key": key,
                    "size": inspection.stored_size,
                    "metadata": inspection.metadata.decode(),
                    "created_at": now,
                }
                previous = existing.get(inspection.instance_id)
                if previous is not None:
                    await index.replace_instance(conn, previous.instance_key, row)
                    superseded.append(previous.blob_key)
                else:
                    new_rows.append(
                        {
                            **row,
                            "partition_key": scope.partition_key,
                            "study_uid": study_uid,
                            "series_uid": series_uid,
                            "sop_uid": sop_uid,
                        }
                    )
                changes.append((inspection.instance_id, version))
            await index.insert_instances(conn, new_rows)
            await index.append_changes(conn, scope.partition_key, index.ChangeAction.CREATE, changes)
    except BaseException:
        blobs.delete(published)
        raise
    blobs.delete(superseded)
    return refused


def _failure(inspection: Inspection, reason: int) -> FailedInstance:
    from_validation = reason == codes.VALIDATION_FAILURE and inspection.sop_uid is not None
    return FailedInstance(
        failure_reason=reason,
        sop_class_uid=inspection.sop_class_uid,
        sop_instance_uid=inspection.sop_uid,
        messages=inspection.messages if from_validation else None,
    )


def response_body(dataset: dict) -> bytes:
    """The response dataset as bytes."""
    return json.dumps(dataset, separators=(",", ":")).encode()
