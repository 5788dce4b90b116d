"""The instances an export copies: in instance-key order, of a study, series or instance, or of a whole partition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Row, select

from .schema import instance

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_COLUMNS = [
    instance.c.instance_key,
    instance.c.study_uid,
    instance.c.series_uid,
    instance.c.sop_uid,
    instance.c.blob_key,
    instance.c.size,
]


async def instances_in_scope_after(
    conn: AsyncConnection,
    partition_key: int,
    study_uid: str,
    series_uid: str | None,
    sop_uid: str | None,
    after_key: int,
    limit: int,
) -> list[Row]:
    """Up to ``limit`` instances of the study, series or instance with keys above ``after_key``, in key order."""
    clauses = [instance.c.partition_key == partition_key, instance.c.study_uid == study_uid]
    if series_uid is not None:
        clauses.append(instance.c.series_uid == series_uid)
    if sop_uid is not None:
        clauses.append(instance.c.sop_uid == sop_uid)
    statement = (
        select(*_COLUMNS)
        .where(*clauses, instance.c.instance_key > after_key)
        .order_by(instance.c.instance_key)
        .limit(limit)
    )
    return list(await conn.execute(statement))


async def partition_instances_after(
    conn: AsyncConnection, partition_key: int, after_key: int, up_to_key: int, limit: int
) -> list[Row]:
    """Up to ``limit`` instances of the partition with ``after_key < key <= up_to_key``, in key order."""
    statement = (
        select(*_COLUMNS)
        .where(
            instance.c.partition_key == partition_key,
            instance.c.instance_key > after_key,
            instance.c.instance_key <= up_to_key,
        )
        .order_by(instance.c.instance_key)
        .limit(limit)
    )
    return list(await conn.execute(statement))
