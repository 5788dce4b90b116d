"""Queries on the index: studies, series, instances, change-feed rows and version numbers.

Each function runs on a connection its caller opened, so several of them share one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, Select, bindparam, delete, func, select, text, tuple_, update

from ..dicom.core_attributes import Match, held_attributes
from ..dicom.levels import TagLevel
from .database import Database
from .person_name_words import delete_person_name_words, replace_person_name_words
from .schema import VERSION, change_feed, counter, extended_query_tag_error, instance, partition, series, study
from .tag_values import delete_owned_values
from .upsert import bound, coalescing_upsert, insert_statement

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

InstanceId = tuple[str, str, str]
_CHANGE_FEED_LOCK_ID = 0x43464545
_STUDY_PERSON_NAMES = [
    attribute for attribute in held_attributes(TagLevel.STUDY) if attribute.match is Match.PERSON_NAME
]


class ChangeAction(IntEnum):
    """What a change-feed row records."""

    CREATE = 0
    DELETE = 1
    UPDATE = 2


async def allocate_versions(conn: AsyncConnection, count: int) -> list[int]:
    """``count`` new, never reused, increasing version numbers."""
    result = await conn.execute(
        update(counter)
        .where(counter.c.name == VERSION)
        .values(value=counter.c.value + count)
        .returning(counter.c.value)
    )
    last = result.scalar_one()
    return list(range(last - count + 1, last + 1))


# -- partitions ---------------------------------------------------------------------------------


async def list_partitions(conn: AsyncConnection) -> list[Row]:
    """Every partition, oldest first."""
    result = await conn.execute(select(partition).order_by(partition.c.partition_key))
    return list(result)


async def find_partition(conn: AsyncConnection, name: str) -> Row | None:
    """The partition called ``name``, if it exists."""
    result = await conn.execute(select(partition).where(partition.c.partition_name == name))
    return result.first()


async def create_partition(conn: AsyncConnection, name: str) -> None:
    """Creates the partition ``name`` unless it already exists."""
    await conn.execute(
        insert_statement(conn, partition)
        .values(partition_name=name, created_date=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=["partition_name"])
    )


# -- store --------------------------------------------------------------------------------------


async def find_instances(conn: AsyncConnection, partition_key: int, ids: Sequence[InstanceId]) -> dict[InstanceId, Row]:
    """The stored rows among ``ids`` (study, series, sop), keyed by id."""
    if not ids:
        return {}
    found: dict[InstanceId, Row] = {}
    for start in range(0, len(ids), 300):
        chunk = list(ids[start : start + 300])
        result = await conn.execute(_INSTANCES_BY_ID, {"partition_key": partition_key, "ids": chunk})
        for row in result:
            found[(row.study_uid, row.series_uid, row.sop_uid)] = row
    return found


_INSTANCES_BY_ID = select(instance).where(
    instance.c.partition_key == bindparam("partition_key"),
    tuple_(instance.c.study_uid, instance.c.series_uid, instance.c.sop_uid).in_(bindparam("ids", expanding=True)),
)


async def upsert_study(conn: AsyncConnection, partition_key: int, study_uid: str, values: Mapping[str, Any]) -> int:
    """The study's key; its indexed values are set to ``values`` where those are not None.

    The words of each person name that changes replace that name's rows in ``person_name_word``.
    """
    statement = coalescing_upsert(
        conn.dialect.name, study, ("partition_key", "study_uid"), (), tuple(values), "study_key"
    )
    row = {"partition_key": partition_key, "study_uid": study_uid, **values}
    study_key = (await conn.execute(statement, bound(row))).scalar_one()
    names = [
        (attribute.tag, study_key, words)
        for attribute in _STUDY_PERSON_NAMES
        if (words := values.get(attribute.words_column)) is not None
    ]
    if names:
        await replace_person_name_words(conn, names)
    return study_key


async def upsert_series(
    conn: AsyncConnection, partition_key: int, study_key: int, series_uid: str, values: Mapping[str, Any]
) -> int:
    """The series' key; its indexed values are set to ``values`` where those are not None."""
    statement = coalescing_upsert(
        conn.dialect.name, series, ("study_key", "series_uid"), ("partition_key",), tuple(values), "series_key"
    )
    row = {"partition_key": partition_key, "study_key": study_key, "series_uid": series_uid, **values}
    return (await conn.execute(statement, bound(row))).scalar_one()


async def insert_instances(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Adds new instance rows."""
    if rows:
        await conn.execute(instance.insert(), list(rows))


async def replace_instance(conn: AsyncConnection, instance_key: int, values: Mapping[str, Any]) -> None:
    """Points an existing instance row at a new version."""
    await conn.execute(update(instance).where(instance.c.instance_key == instance_key).values(**values))


async def append_changes(
    conn: AsyncConnection, partition_key: int, action: ChangeAction, entries: Iterable[tuple[InstanceId, int]]
) -> tuple[list[int], datetime]:
    """Appends one change-feed row per (instance id, version), in order; returns their sequences and timestamp.

    On PostgreSQL the rows' sequence numbers are taken under a transaction lock, so sequences
    become visible in commit order and a reader never skips one that commits later (SQLite has a
    single writer). Under that lock the timestamp never falls behind the newest row's, so the
    feed read by time (v2) has the same order as by sequence.
    """
    rows = [
        {
            "partition_key": partition_key,
            "study_uid": study_uid,
            "series_uid": series_uid,
            "sop_uid": sop_uid,
            "action": int(action),
            "version": version,
        }
        for (study_uid, series_uid, sop_uid), version in entries
    ]
    now = datetime.now(UTC)
    if not rows:
        return [], now
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _CHANGE_FEED_LOCK_ID})
    newest = (await conn.execute(_NEWEST_CHANGE_TIME)).scalar()
    if newest is not None:
        now = max(now, as_utc(newest))
    for row in rows:
        row["timestamp"] = now
    # One multi-row INSERT; its RETURNING rows may come in any order, so each is matched to its entry.
    result = await conn.execute(_INSERT_CHANGES, rows)
    sequences = {(row.study_uid, row.series_uid, row.sop_uid, row.version): row.sequence for row in result}
    return [sequences[(row["study_uid"], row["series_uid"], row["sop_uid"], row["version"])] for row in rows], now


_NEWEST_CHANGE_TIME = select(func.max(change_feed.c.timestamp))
_INSERT_CHANGES = change_feed.insert().returning(
    change_feed.c.sequence,
    change_feed.c.study_uid,
    change_feed.c.series_uid,
    change_feed.c.sop_uid,
    change_feed.c.version,
)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (SQLite hands back naive ones, which are stored in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# -- read ---------------------------------------------------------------------------------------


def _scoped(*columns, by_series: bool, by_instance: bool):
    """A prebuilt SELECT of ``columns`` for one study, series or instance (bound by name at execution)."""
    clauses = [instance.c.partition_key == bindparam("partition_key"), instance.c.study_uid == bindparam("study_uid")]
    if by_series:
        clauses.append(instance.c.series_uid == bindparam("series_uid"))
    if by_instance:
        clauses.append(instance.c.sop_uid == bindparam("sop_uid"))
    return select(*columns).where(*clauses).order_by(instance.c.series_uid, instance.c.instance_key)


def _scoped_statements(*columns) -> dict[tuple[bool, bool], Select]:
    # Built once: composing SQL expressions costs more than running these indexed queries.
    return {
        (by_series, by_instance): _scoped(*columns, by_series=by_series, by_instance=by_instance)
        for by_series, by_instance in ((False, False), (True, False), (True, True))
    }


def _original(column: str):
    """The original version's value of ``column`` where an update kept one, else the latest's."""
    return func.coalesce(instance.c[f"original_{column}"], instance.c[column]).label(column)


_FILES = {
    False: _scoped_statements(instance.c.blob_key, instance.c.size, instance.c.transfer_syntax_uid),
    True: _scoped_statements(_original("blob_key"), _original("size"), _original("transfer_syntax_uid")),
}
_METADATA = {
    False: _scoped_statements(instance.c.version, instance.c.metadata),
    True: _scoped_statements(_original("version"), _original("metadata")),
}
_STUDY_INSTANCES = (
    select(instance)
    .where(instance.c.partition_key == bindparam("partition_key"), instance.c.study_uid == bindparam("study_uid"))
    .order_by(instance.c.series_uid, instance.c.instance_key)
)
_PIXELS = _scoped(
    instance.c.blob_key,
    instance.c.size,
    instance.c.transfer_syntax_uid,
    instance.c.frame_index,
    by_series=True,
    by_instance=True,
)
_DELETABLE = _scoped_statements(
    instance.c.instance_key,
    instance.c.study_uid,
    instance.c.series_uid,
    instance.c.sop_uid,
    instance.c.version,
    instance.c.blob_key,
    instance.c.original_blob_key,
    instance.c.study_key,
    instance.c.series_key,
)


async def _select_scoped(
    conn: AsyncConnection,
    statements: dict[tuple[bool, bool], Select],
    partition_key: int,
    study_uid: str,
    series_uid: str | None,
    sop_uid: str | None,
) -> list[Row]:
    params = {"partition_key": partition_key, "study_uid": study_uid}
    if series_uid is not None:
        params["series_uid"] = series_uid
    if sop_uid is not None:
        params["sop_uid"] = sop_uid
    statement = statements[(series_uid is not None, sop_uid is not None)]
    return list(await conn.execute(statement, params))


async def instance_files(
    conn: AsyncConnection,
    partition_key: int,
    study_uid: str,
    series_uid: str | None,
    sop_uid: str | None,
    original: bool = False,
) -> list[Row]:
    """Blob key, size and transfer syntax of every instance in the scope: of its original version when
    ``original`` and an update kept one, else of its latest."""
    return await _select_scoped(conn, _FILES[original], partition_key, study_uid, series_uid, sop_uid)


async def instance_metadata(
    conn: AsyncConnection,
    partition_key: int,
    study_uid: str,
    series_uid: str | None,
    sop_uid: str | None,
    original: bool = False,
) -> list[Row]:
    """Version and stored DICOM JSON of every instance in the scope: of its original version when
    ``original`` and an update kept one, else of its latest."""
    return await _select_scoped(conn, _METADATA[original], partition_key, study_uid, series_uid, sop_uid)


async def study_instances(conn: AsyncConnection, partition_key: int, study_uid: str) -> list[Row]:
    """The whole rows of every instance of one study, by series."""
    return list(await conn.execute(_STUDY_INSTANCES, {"partition_key": partition_key, "study_uid": study_uid}))


async def instance_pixels(
    db: Database, partition_key: int, study_uid: str, series_uid: str, sop_uid: str
) -> Any | None:
    """Blob key, size, transfer syntax and frame index (attributes of the row) of one instance, if it exists."""
    params = {"partition_key": partition_key, "study_uid": study_uid, "series_uid": series_uid, "sop_uid": sop_uid}
    return await db.first_row(_PIXELS, params)


# -- delete -------------------------------------------------------------------------------------


async def delete_instances(
    conn: AsyncConnection, partition_key: int, study_uid: str, series_uid: str | None, sop_uid: str | None
) -> list[Row]:
    """Deletes the instances in the scope, and series and studies left empty; returns the deleted rows.

    Their search rows go with them: person-name words, extended query tag values and errors.
    """
    rows = await _select_scoped(conn, _DELETABLE, partition_key, study_uid, series_uid, sop_uid)
    if not rows:
        return rows
    keys = [row.instance_key for row in rows]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        await conn.execute(delete(instance).where(instance.c.instance_key.in_(chunk)))
        await conn.execute(delete(extended_query_tag_error).where(extended_query_tag_error.c.instance_key.in_(chunk)))
    series_keys = {row.series_key for row in rows}
    study_keys = {row.study_key for row in rows}
    deleted_series = await conn.execute(
        delete(series)
        .where(
            series.c.series_key.in_(series_keys),
            ~select(instance.c.instance_key).where(instance.c.series_key == series.c.series_key).exists(),
        )
        .returning(series.c.series_key)
    )
    deleted_series_keys = list(deleted_series.scalars())
    deleted_studies = await conn.execute(
        delete(study)
        .where(
            study.c.study_key.in_(study_keys),
            ~select(series.c.series_key).where(series.c.study_key == study.c.study_key).exists(),
        )
        .returning(study.c.study_key)
    )
    deleted_study_keys = list(deleted_studies.scalars())
    for attribute in _STUDY_PERSON_NAMES:
        await delete_person_name_words(conn, attribute.tag, deleted_study_keys)
    await delete_owned_values(conn, keys, deleted_series_keys, deleted_study_keys)
    return rows


# -- maintenance --------------------------------------------------------------------------------


async def blob_keys_page(conn: AsyncConnection, after: int, limit: int) -> list[Row]:
    """Up to ``limit`` (instance_key, blob_key, original_blob_key) rows with instance keys above ``after``,
    in key order."""
    statement = (
        select(instance.c.instance_key, instance.c.blob_key, instance.c.original_blob_key)
        .where(instance.c.instance_key > after)
        .order_by(instance.c.instance_key)
        .limit(limit)
    )
    return list(await conn.execute(statement))


async def holds_instances(conn: AsyncConnection) -> bool:
    """Whether the index holds any instance, in any partition."""
    return (await conn.execute(select(instance.c.instance_key).limit(1))).first() is not None
