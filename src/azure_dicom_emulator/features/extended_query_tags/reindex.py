"""The reindex operation: indexes the values of newly added tags for the instances stored before them.

It walks the instances in key order up to the last key at the time the tags were added (later
instances were indexed when stored), a batch per transaction that also records the checkpoint,
so a restart resumes where the last committed batch ended. Values that fail their VR's checks are
recorded as errors; when done, each tag is ready, with searching disabled if it has errors.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ...dicom.extended_values import tag_value
from ...storage import operations, reindexing, tag_values
from ...storage.tag_values import TagStatus, TagValue
from ..operations import LostOwnership
from ..services import Services
from .indexing import IndexedInstance, owner_of, spec_of

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


async def run_batch(services: Services, operation: Row, owner: str) -> bool:
    """Indexes the next batch of the operation; True when the operation is finished (or no longer ours)."""
    settings = services.settings
    state = json.loads(operation.checkpoint)
    async with services.db.write() as conn:
        if not await operations.owns(conn, operation.operation_id, owner):
            return True
        tags = [t for t in await tag_values.tags_by_key(conn, state["tag_keys"]) if t.status == TagStatus.ADDING]
        rows = await reindexing.instances_after(
            conn, state["after_key"], state["up_to_key"], settings.reindex_batch_size
        )
        if tags and rows:
            await _index(conn, tags, rows)
        if rows:
            state["after_key"] = rows[-1].instance_key
            state["done"] += len(rows)
        finished = not tags or not rows or state["after_key"] >= state["up_to_key"]
        if finished:
            await tag_values.finish_adding(conn, [tag.tag_key for tag in tags])
        percent = 100 if finished else min(99, state["done"] * 100 // max(1, state["total"]))
        status = operations.SUCCEEDED if finished else operations.RUNNING
        recorded = await operations.checkpoint(
            conn, operation.operation_id, owner, state, percent, settings.operation_lease_seconds, status
        )
        if not recorded:
            raise LostOwnership(operation.operation_id)
    return finished


async def _index(conn: AsyncConnection, tags: list[Row], rows: list[Row]) -> None:
    documents = [json.loads(row.metadata) for row in rows]
    for tag in tags:
        spec = spec_of(tag)
        values, errors = [], []
        for row, document in zip(rows, documents, strict=True):
            value, error = tag_value(document, spec, strict=True)
            if error:
                errors.append(
                    {
                        "instance_key": row.instance_key,
                        "partition_key": row.partition_key,
                        "study_uid": row.study_uid,
                        "series_uid": row.series_uid,
                        "sop_uid": row.sop_uid,
                        "error_message": error,
                    }
                )
            elif value is not None:
                item = IndexedInstance(
                    (row.study_uid, row.series_uid, row.sop_uid),
                    row.version,
                    row.study_key,
                    row.series_key,
                    row.metadata,
                    instance_key=row.instance_key,
                )
                values.append(TagValue(owner_of(tag, item), value, row.version))
        await tag_values.write_values(conn, tag, values)
        await tag_values.record_errors(conn, tag.tag_key, errors)
