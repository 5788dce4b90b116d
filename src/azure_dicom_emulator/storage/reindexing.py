"""The instances a reindex walks through: in instance-key order, up to the last key at its start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Row, func, select

from .schema import instance

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_BATCH_COLUMNS = [
    instance.c.instance_key,
    instance.c.partition_key,
    instance.c.study_key,
    instance.c.series_key,
    instance.c.study_uid,
    instance.c.series_uid,
    instance.c.sop_uid,
    instance.c.version,
    instance.c.metadata,
]


async def last_instance_key(conn: AsyncConnection) -> tuple[int, int]:
    """(highest instance key, number of instances), (0, 0) when there are none."""
    row = (await conn.execute(select(func.max(instance.c.instance_key), func.count()))).one()
    return row[0] or 0, row[1]


async def instances_after(conn: AsyncConnection, after_key: int, up_to_key: int, limit: int) -> list[Row]:
    """Up to ``limit`` instances with ``after_key < key <= up_to_key``, with their keys, UIDs and metadata."""
    statement = (
        select(*_BATCH_COLUMNS)
        .where(instance.c.instance_key > after_key, instance.c.instance_key <= up_to_key)
        .order_by(instance.c.instance_key)
        .limit(limit)
    )
    return list(await conn.execute(statement))
