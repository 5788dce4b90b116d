"""Queries on workitems (UPS-RS): add, find, change under optimistic concurrency, search.

Each function runs on a connection its caller opened. Search conditions arrive with their values
already turned into matching keys (see dicom.ups_search_keys), so every match compares keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Row, and_, delete, false, select, update

from .schema import workitem, workitem_sequence_value
from .upsert import insert_statement

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_ROW_COLUMNS = (
    workitem.c.workitem_key,
    workitem.c.sop_uid,
    workitem.c.state,
    workitem.c.transaction_uid,
    workitem.c.version,
    workitem.c.dataset,
)


@dataclass(frozen=True)
class Equals:
    """``column`` of the workitem equals ``value``."""

    column: str
    value: str


@dataclass(frozen=True)
class Between:
    """``column`` lies in the inclusive range; an end that is None is open."""

    column: str
    low: str | None
    high: str | None


@dataclass(frozen=True)
class Like:
    """``column`` matches the LIKE ``pattern``."""

    column: str
    pattern: str


@dataclass(frozen=True)
class SequenceValue:
    """Some item of the sequence key ``path`` has the value ``value``."""

    path: str
    value: str


@dataclass(frozen=True)
class Nothing:
    """Matches no workitem."""


Condition = Equals | Between | Like | SequenceValue | Nothing


async def add_workitem(
    conn: AsyncConnection,
    partition_key: int,
    sop_uid: str,
    state: str,
    dataset: str,
    created_at: datetime,
    search: dict[str, Any],
    sequence_values: Sequence[tuple[str, str]],
) -> int | None:
    """Adds a workitem (version 1, unclaimed) with its search values; its key, or None when the partition
    already has a workitem with this UID (nothing is written then)."""
    statement = (
        insert_statement(conn, workitem)
        .values(
            partition_key=partition_key,
            sop_uid=sop_uid,
            state=state,
            transaction_uid=None,
            version=1,
            dataset=dataset,
            created_at=created_at,
            **search,
        )
        .on_conflict_do_nothing(index_elements=["partition_key", "sop_uid"])
        .returning(workitem.c.workitem_key)
    )
    key = (await conn.execute(statement)).scalar()
    if key is not None:
        await _add_sequence_values(conn, key, sequence_values)
    return key


async def find_workitem(conn: AsyncConnection, partition_key: int, sop_uid: str) -> Row | None:
    """The workitem with this UID in the partition (key, UID, state, transaction UID, version, dataset), if any."""
    statement = select(*_ROW_COLUMNS).where(workitem.c.partition_key == partition_key, workitem.c.sop_uid == sop_uid)
    return (await conn.execute(statement)).first()


async def change_workitem(
    conn: AsyncConnection,
    workitem_key: int,
    version: int,
    state: str,
    transaction_uid: str | None,
    dataset: str,
    search: dict[str, Any],
    sequence_values: Sequence[tuple[str, str]],
) -> bool:
    """Replaces the workitem's state, owner, dataset and search values if it is still at ``version``, moving it
    to the next version; False (nothing written) when another change came first."""
    statement = (
        update(workitem)
        .where(workitem.c.workitem_key == workitem_key, workitem.c.version == version)
        .values(version=version + 1, state=state, transaction_uid=transaction_uid, dataset=dataset, **search)
    )
    if (await conn.execute(statement)).rowcount != 1:
        return False
    await conn.execute(delete(workitem_sequence_value).where(workitem_sequence_value.c.workitem_key == workitem_key))
    await _add_sequence_values(conn, workitem_key, sequence_values)
    return True


async def _add_sequence_values(conn: AsyncConnection, workitem_key: int, values: Sequence[tuple[str, str]]) -> None:
    if values:
        rows = [{"workitem_key": workitem_key, "path": path, "value": value} for path, value in values]
        await conn.execute(workitem_sequence_value.insert(), rows)


async def search_workitems(
    conn: AsyncConnection, partition_key: int, conditions: Sequence[Condition], limit: int, offset: int
) -> list[str]:
    """The DICOM JSON of a page of the partition's workitems matching every condition, newest first."""
    statement = (
        select(workitem.c.dataset)
        .where(workitem.c.partition_key == partition_key, *(_clause(condition) for condition in conditions))
        .order_by(workitem.c.workitem_key.desc())
        .limit(limit)
        .offset(offset)
    )
    return [row.dataset for row in await conn.execute(statement)]


def _clause(condition: Condition) -> ColumnElement:
    if isinstance(condition, Equals):
        return workitem.c[condition.column] == condition.value
    if isinstance(condition, Between):
        column = workitem.c[condition.column]
        ends = []
        if condition.low is not None:
            ends.append(column >= condition.low)
        if condition.high is not None:
            ends.append(column <= condition.high)
        return and_(*ends)
    if isinstance(condition, Like):
        return workitem.c[condition.column].like(condition.pattern)
    if isinstance(condition, SequenceValue):
        matching = select(workitem_sequence_value.c.workitem_key).where(
            workitem_sequence_value.c.path == condition.path, workitem_sequence_value.c.value == condition.value
        )
        return workitem.c.workitem_key.in_(matching)
    return false()
