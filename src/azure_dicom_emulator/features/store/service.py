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
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from ...dicom import store_response as codes
from ...dicom.extended_values import TagSpec
from ...dicom.part10 import HEAD_LENGTH, stored_head
from ...dicom.store_response import FailedInstance, StoredInstance, store_response
from ...storage import index, tag_values
from ...storage.blobs import instance_key
from .. import change_log as change_log
from ..extended_query_tags.indexing import IndexedInstance, index_instances, spec_of
from ..scope import Scope
from ..services import Services
from .examination import Inspection, inspect_staged

log = logging.getLogger(__name__)
BATCH_SIZE = 200
SPOOL_FLUSH_BYTES = 4 * 1024 * 1024
MAX_PARTS_IN_FLIGHT = 8
IOV_MAX = 1024
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
    async with services.db.read() as conn:
        extended_tags = tuple(spec_of(tag) for tag in await tag_values.all_tags(conn))
    uploads = await _receive(services, scope, parts, study_uid, extended_tags)
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
    services: Services,
    scope: Scope,
    parts: AsyncIterator[AsyncIterator[bytes]],
    study_uid: str | None,
    extended_tags: tuple[TagSpec, ...],
) -> list[_Upload]:
    """Spools every part and examines it in the pool; on any error, removes what it staged.

    Disk writes run in I/O threads so the event loop keeps reading the body meanwhile; at most
    MAX_PARTS_IN_FLIGHT parts wait for their writes at once, which bounds the memory in use.
    """
    in_flight = asyncio.Semaphore(MAX_PARTS_IN_FLIGHT)
    staged_paths: list[Path] = []
    tasks: list[asyncio.Future] = []
    try:
        async for chunks in parts:
            staged = services.blobs.new_staging_path()
            staged_paths.append(staged)
            await in_flight.acquire()
            spool = _Spool(services, staged)
            try:
                async for chunk in chunks:
                    await spool.add(chunk)
            except BaseException:
                in_flight.release()
                await spool.abandon()
                raise
            tasks.append(asyncio.ensure_future(_finish(services, scope, spool, in_flight, study_uid, extended_tags)))
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        services.blobs.discard_staged(staged_paths)
        raise
    return [_Upload(staged, result) for staged, result in zip(staged_paths, results, strict=True)]


async def _finish(
    services: Services,
    scope: Scope,
    spool: _Spool,
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


class _Spool:
    """One part being written to its staging file, in order, by the I/O threads.

    Its head is written as stored (``dicom.part10.stored_head``), so no file is written twice.
    Even creating the file happens in an I/O thread: on some disks a create costs as much as
    writing half a megabyte, and the event loop has better things to do.
    """

    def __init__(self, services: Services, path: Path) -> None:
        self.loop = asyncio.get_running_loop()
        self.pool = services.io_pool
        self.path = path
        self.fd: int | None = None
        self.size = 0
        self.pending: list[bytes | memoryview] = []
        self.pending_size = 0
        self.writing: asyncio.Future | None = None
        self.head: bytes | None = b""  # the first bytes while fewer than HEAD_LENGTH arrived; then None

    async def add(self, chunk: bytes) -> None:
        if self.head is not None:
            # Only the head's bytes are gathered and rewritten; the rest of the chunk is kept uncopied.
            wanted = HEAD_LENGTH - len(self.head)
            self.head += chunk[:wanted]
            if len(self.head) < HEAD_LENGTH:
                return
            self._keep(stored_head(self.head))
            self.head = None
            chunk = memoryview(chunk)[wanted:]
        self._keep(chunk)
        if self.pending_size >= SPOOL_FLUSH_BYTES:
            await self._flush()

    def _keep(self, chunk: bytes | memoryview) -> None:
        self.pending.append(chunk)
        self.pending_size += len(chunk)
        self.size += len(chunk)

    async def _flush(self) -> None:
        if self.writing is not None:
            await self.writing
        self.writing = self.loop.run_in_executor(self.pool, self._append, self.pending)
        self.pending, self.pending_size = [], 0

    def _append(self, chunks: list[bytes | memoryview]) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        _write_all(self.fd, chunks)

    async def close(self) -> None:
        try:
            if self.head:  # a part shorter than HEAD_LENGTH
                self._keep(stored_head(self.head))
                self.head = None
            await self._flush()
            await self.writing
        finally:
            self._close_fd()

    async def abandon(self) -> None:
        if self.writing is not None:
            await asyncio.gather(self.writing, return_exceptions=True)
        self._close_fd()

    def _close_fd(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _write_all(fd: int, chunks: list[bytes | memoryview]) -> None:
    view_chunks = [memoryview(chunk) for chunk in chunks if chunk]
    while view_chunks:
        written = os.writev(fd, view_chunks[:IOV_MAX])
        while written and view_chunks:
            first = view_chunks[0]
            if written >= len(first):
                written -= len(first)
                view_chunks.pop(0)
            else:
                view_chunks[0] = first[written:]
                written = 0


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
    keys: list[str] = []
    superseded: list[str] = []
    try:
        async with services.db.write() as conn:
            existing = await index.find_instances(conn, scope.partition_key, [u.inspection.instance_id for u in batch])
            if not upsert:
                refused = {key: codes.SOP_INSTANCE_ALREADY_EXISTS for key in existing}
            accepted = [u for u in batch if u.inspection.instance_id not in refused]
            if not accepted:
                return refused
            await tag_values.lock_tag_set(conn, exclusive=False)
            tags = await tag_values.all_tags(conn)
            versions = await index.allocate_versions(conn, len(accepted))
            keys = [
                instance_key(scope.partition_key, *upload.inspection.instance_id, version)
                for upload, version in zip(accepted, versions, strict=True)
            ]
            # The files move to their keys before the rows that name them are committed.
            for upload, key in zip(accepted, keys, strict=True):
                blobs.publish(upload.staged, key)
            study_values: dict[str, dict] = {}
            series_values: dict[tuple[str, str], dict] = {}
            for upload in accepted:
                inspection = upload.inspection
                study_uid, series_uid, _ = inspection.instance_id
                _merge_latest(study_values.setdefault(study_uid, {}), inspection.study_values)
                _merge_latest(series_values.setdefault((study_uid, series_uid), {}), inspection.series_values)
            study_keys = {
                uid: await index.upsert_study(conn, scope.partition_key, uid, values)
                for uid, values in study_values.items()
            }
            series_keys = {
                (study_uid, uid): await index.upsert_series(
                    conn, scope.partition_key, study_keys[study_uid], uid, values
                )
                for (study_uid, uid), values in series_values.items()
            }
            now = datetime.now(UTC)
            new_rows = []
            changes = []
            for upload, version, key in zip(accepted, versions, keys, strict=True):
                inspection = upload.inspection
                study_uid, series_uid, sop_uid = inspection.instance_id
                row = {
                    "study_key": study_keys[study_uid],
                    "series_key": series_keys[(study_uid, series_uid)],
                    "sop_class_uid": inspection.sop_class_uid,
                    "transfer_syntax_uid": inspection.transfer_syntax_uid,
                    "version": version,
                    "blob_key": key,
                    "size": inspection.stored_size,
                    "metadata": inspection.metadata.decode(),
                    "frame_index": inspection.frame_index,
                    "attributes": inspection.instance_attributes,
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
            await index_instances(
                conn,
                scope.partition_key,
                tags,
                [
                    IndexedInstance(
                        instance_id=upload.inspection.instance_id,
                        version=version,
                        study_key=study_keys[upload.inspection.instance_id[0]],
                        series_key=series_keys[upload.inspection.instance_id[:2]],
                        metadata=upload.inspection.metadata,
                        known_values=upload.inspection.extended_values,
                    )
                    for upload, version in zip(accepted, versions, strict=True)
                ],
            )
            await change_log.record(conn, services, scope, index.ChangeAction.CREATE, changes)
    except BaseException:
        blobs.delete(keys)
        raise
    services.events.wake()
    blobs.delete(superseded)
    return refused


def _merge_latest(merged: dict, values: dict) -> None:
    """Folds one instance's index values into ``merged``: a later non-empty value wins, None never does."""
    for name, value in values.items():
        if value is not None or name not in merged:
            merged[name] = value


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
