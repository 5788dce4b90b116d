"""Long-running operations in the index: durable rows that any worker can claim, checkpoint and finish.

A worker owns an operation while its lease lasts and renews the lease with every checkpoint; when
a worker dies, the lease runs out and another worker (or the restarted one) resumes from the last
checkpoint. On PostgreSQL a claim skips rows another worker is claiming (FOR UPDATE SKIP LOCKED);
SQLite has a single writer.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Row, or_, select, text, update

from .schema import operation

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

NOT_STARTED = "notStarted"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
ACTIVE = (NOT_STARTED, RUNNING)


async def create(
    conn: AsyncConnection, operation_id: str, kind: str, resources: Sequence[str], checkpoint: dict
) -> None:
    """Adds a not-started operation of type ``kind``."""
    now = datetime.now(UTC)
    await conn.execute(
        operation.insert().values(
            operation_id=operation_id,
            type=kind,
            status=NOT_STARTED,
            created_time=now,
            last_updated_time=now,
            percent_complete=0,
            resources=json.dumps(list(resources)),
            checkpoint=json.dumps(checkpoint),
        )
    )


async def find(conn: AsyncConnection, operation_id: str) -> Row | None:
    """The operation with this id."""
    return (await conn.execute(select(operation).where(operation.c.operation_id == operation_id))).first()


async def lock_type(conn: AsyncConnection, kind: str) -> None:
    """Orders the creations of operations of type ``kind`` on PostgreSQL until the transaction ends, so that
    two of them never both find no active one (SQLite has a single writer anyway)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": zlib.crc32(f"operation:{kind}".encode())})


async def newest(conn: AsyncConnection, limit: int) -> list[Row]:
    """Up to ``limit`` operations, the newest first."""
    statement = select(operation).order_by(operation.c.created_time.desc()).limit(limit)
    return list(await conn.execute(statement))


async def active_of_type(conn: AsyncConnection, kind: str) -> Row | None:
    """The oldest not-started or running operation of type ``kind``."""
    statement = (
        select(operation)
        .where(operation.c.type == kind, operation.c.status.in_(ACTIVE))
        .order_by(operation.c.created_time)
        .limit(1)
    )
    return (await conn.execute(statement)).first()


def _claimable(now: datetime, kinds: Sequence[str]):
    return (
        select(operation)
        .where(
            operation.c.type.in_(kinds),
            operation.c.status.in_(ACTIVE),
            or_(operation.c.lease_expires.is_(None), operation.c.lease_expires < now),
        )
        .order_by(operation.c.created_time)
        .limit(1)
    )


async def any_claimable(conn: AsyncConnection, kinds: Sequence[str]) -> bool:
    """Whether some active operation of these types has no live owner (a cheap check before claiming)."""
    return (await conn.execute(_claimable(datetime.now(UTC), kinds))).first() is not None


async def claim(conn: AsyncConnection, owner: str, lease_seconds: float, kinds: Sequence[str]) -> Row | None:
    """Takes the oldest active operation of these types without a live owner, as ``owner`` for a lease."""
    now = datetime.now(UTC)
    row = (await conn.execute(_claimable(now, kinds).with_for_update(skip_locked=True))).first()
    if row is None:
        return None
    await conn.execute(
        update(operation)
        .where(operation.c.operation_id == row.operation_id)
        .values(status=RUNNING, owner=owner, lease_expires=now + timedelta(seconds=lease_seconds))
    )
    return await find(conn, row.operation_id)


async def checkpoint(
    conn: AsyncConnection,
    operation_id: str,
    owner: str,
    state: dict,
    percent_complete: int,
    lease_seconds: float,
    status: str = RUNNING,
) -> bool:
    """Records progress (and renews the lease) if ``owner`` still owns the operation; tells whether it did."""
    now = datetime.now(UTC)
    result = await conn.execute(
        update(operation)
        .where(operation.c.operation_id == operation_id, operation.c.owner == owner, operation.c.status == RUNNING)
        .values(
            checkpoint=json.dumps(state),
            percent_complete=percent_complete,
            status=status,
            last_updated_time=now,
            lease_expires=None if status != RUNNING else now + timedelta(seconds=lease_seconds),
        )
    )
    return result.rowcount == 1


async def renew_lease(conn: AsyncConnection, operation_id: str, owner: str, lease_seconds: float) -> bool:
    """Extends ``owner``'s lease on a running operation, its checkpoint unchanged; tells whether it still owns it."""
    result = await conn.execute(
        update(operation)
        .where(operation.c.operation_id == operation_id, operation.c.owner == owner, operation.c.status == RUNNING)
        .values(lease_expires=datetime.now(UTC) + timedelta(seconds=lease_seconds))
    )
    return result.rowcount == 1


async def owns(conn: AsyncConnection, operation_id: str, owner: str) -> bool:
    """Whether ``owner`` still runs the operation."""
    statement = select(operation.c.operation_id).where(
        operation.c.operation_id == operation_id, operation.c.owner == owner, operation.c.status == RUNNING
    )
    return (await conn.execute(statement)).first() is not None
