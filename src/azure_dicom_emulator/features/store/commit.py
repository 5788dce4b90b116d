"""Committing examined uploads: a batch of instances per transaction, retried when it races another writer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from ...dicom import store_response as codes
from ...dicom.store_response import FailedInstance, StoredInstance
from ...storage import index
from ...storage.index import ChangeAction, InstanceId
from ..instance_versions import NewVersion, ReservedBeforeReset, write_new_versions
from ..scope import Scope
from ..services import Services
from .examination import Inspection

log = logging.getLogger(__name__)
BATCH_SIZE = 200


@dataclass
class Upload:
    """One received part: its staged file, what examining it found and, once published, its version and key."""

    staged: Path
    inspection: Inspection
    number: int | None = None
    key: str | None = None
    committed: bool = False
    """Its rows are committed: its file is the instance's now."""


async def commit_uploads(
    services: Services, scope: Scope, uploads: list[Upload], upsert: bool
) -> tuple[list[StoredInstance], list[FailedInstance]]:
    """Stores the uploads that passed examination, BATCH_SIZE per transaction; returns what was stored and not.

    POST keeps an existing instance (and fails the upload), PUT (``upsert``) replaces it; an
    instance sent twice in one request is stored once.
    """
    stored: list[StoredInstance] = []
    failed: list[FailedInstance] = []
    seen: set[InstanceId] = set()
    batch: list[Upload] = []
    for upload in uploads:
        inspection = upload.inspection
        if inspection.failure_reason is not None:  # examining it failed, or publishing its file
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
            upload.committed = reason is None
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
    services: Services, scope: Scope, batch: list[Upload], upsert: bool
) -> dict[InstanceId, int]:
    """Stores a batch; returns the failure reason of each instance that was not stored."""
    for attempt in range(3):
        try:
            return await _commit_batch(services, scope, batch, upsert)
        except IntegrityError:
            # Another request stored one of these instances between our lookup and insert:
            # the next attempt sees it and reports it as existing (or replaces it on PUT).
            log.info("store batch raced with another writer; retrying (attempt %d)", attempt + 1)
            continue
        except ReservedBeforeReset:
            log.info("store batch came after a reset of the data; its instances are not stored")
        except Exception:
            log.exception("store batch failed")
        return {upload.inspection.instance_id: codes.PROCESSING_FAILURE for upload in batch}
    return {upload.inspection.instance_id: codes.PENDING_INSTANCE for upload in batch}


async def _commit_batch(services: Services, scope: Scope, batch: list[Upload], upsert: bool) -> dict[InstanceId, int]:
    """Stores a batch in one transaction; returns the instances refused because they exist (POST only)."""
    async with services.db.write() as conn:
        existing = await index.find_instances(conn, scope.partition_key, [u.inspection.instance_id for u in batch])
        refused = {} if upsert else {key: codes.SOP_INSTANCE_ALREADY_EXISTS for key in existing}
        versions = [
            _new_version(upload, existing.get(upload.inspection.instance_id))
            for upload in batch
            if upload.inspection.instance_id not in refused
        ]
        if not versions:
            return refused
        superseded = await write_new_versions(conn, services, scope, versions, ChangeAction.CREATE)
    services.events.wake()
    await services.blobs.delete(superseded)
    return refused


def _new_version(upload: Upload, replaces: Row | None) -> NewVersion:
    """The new version an examined upload makes of its instance."""
    inspection = upload.inspection
    return NewVersion(
        number=upload.number,
        key=upload.key,
        instance_id=inspection.instance_id,
        sop_class_uid=inspection.sop_class_uid,
        transfer_syntax_uid=inspection.transfer_syntax_uid,
        size=inspection.stored_size,
        metadata=inspection.metadata,
        frame_index=inspection.frame_index,
        attributes=inspection.instance_attributes,
        study_values=inspection.study_values,
        series_values=inspection.series_values,
        extended_values=inspection.extended_values,
        replaces=replaces,
    )


def _failure(inspection: Inspection, reason: int) -> FailedInstance:
    """The response entry of an upload that was not stored, with the validation messages that explain it."""
    from_validation = reason == codes.VALIDATION_FAILURE and bool(inspection.messages)
    return FailedInstance(
        failure_reason=reason,
        sop_class_uid=inspection.sop_class_uid,
        sop_instance_uid=inspection.sop_uid,
        messages=inspection.messages if from_validation else None,
    )
