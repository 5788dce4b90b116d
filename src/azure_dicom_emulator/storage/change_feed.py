"""Reading the change feed: entries by sequence or by time, with their partition and current instance version.

An entry's instance is looked up by its (partition, study, series, sop): missing means the
instance was deleted, another version means the entry was replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row, Select, and_, bindparam, select

from .schema import change_feed, instance, partition

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_COLUMNS = (
    change_feed.c.sequence,
    partition.c.partition_name,
    change_feed.c.study_uid,
    change_feed.c.series_uid,
    change_feed.c.sop_uid,
    change_feed.c.action,
    change_feed.c.timestamp,
    change_feed.c.version,
    instance.c.version.label("current_version"),
)
_JOINED = change_feed.join(partition, partition.c.partition_key == change_feed.c.partition_key).outerjoin(
    instance,
    and_(
        instance.c.partition_key == change_feed.c.partition_key,
        instance.c.study_uid == change_feed.c.study_uid,
        instance.c.series_uid == change_feed.c.series_uid,
        instance.c.sop_uid == change_feed.c.sop_uid,
    ),
)


def _entries(with_metadata: bool) -> Select:
    columns = (*_COLUMNS, instance.c.metadata) if with_metadata else _COLUMNS
    return select(*columns).select_from(_JOINED)


def _built(factory: Callable[[Select], Select]) -> dict[bool, Select]:
    # Built once per shape: composing SQL expressions costs more than running these indexed queries.
    return {with_metadata: factory(_entries(with_metadata)) for with_metadata in (False, True)}


_BY_SEQUENCE = _built(
    lambda s: s.where(
        change_feed.c.sequence > bindparam("after"), change_feed.c.sequence <= bindparam("through")
    ).order_by(change_feed.c.sequence)
)
_BY_TIME = _built(
    lambda s: (
        s.where(change_feed.c.timestamp >= bindparam("start"), change_feed.c.timestamp < bindparam("end"))
        .order_by(change_feed.c.timestamp, change_feed.c.sequence)
        .offset(bindparam("skip"))
        .limit(bindparam("take"))
    )
)
_LATEST_BY_SEQUENCE = _built(lambda s: s.order_by(change_feed.c.sequence.desc()).limit(1))
_LATEST_BY_TIME = _built(lambda s: s.order_by(change_feed.c.timestamp.desc(), change_feed.c.sequence.desc()).limit(1))


async def by_sequence(conn: AsyncConnection, after: int, through: int, with_metadata: bool) -> list[Row]:
    """Entries with ``after < sequence <= through``, by sequence."""
    return list(await conn.execute(_BY_SEQUENCE[with_metadata], {"after": after, "through": through}))


async def by_time(
    conn: AsyncConnection, start: datetime, end: datetime, skip: int, take: int, with_metadata: bool
) -> list[Row]:
    """Entries with ``start <= timestamp < end``, by timestamp then sequence, ``skip`` rows skipped (UTC times)."""
    params = {"start": start, "end": end, "skip": skip, "take": take}
    return list(await conn.execute(_BY_TIME[with_metadata], params))


async def latest(conn: AsyncConnection, by_time: bool, with_metadata: bool) -> Row | None:
    """The newest entry, by sequence or by timestamp (then sequence); None when the feed is empty."""
    statements = _LATEST_BY_TIME if by_time else _LATEST_BY_SEQUENCE
    return (await conn.execute(statements[with_metadata])).first()
