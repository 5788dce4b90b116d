"""Extended query tags in the index: the tags, their typed value tables, person-name words and indexing errors.

Each function runs on a connection its caller opened, so several of them share one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING

from sqlalchemy import Row, Table, delete, func, select, text, update

from ..dicom.levels import TagLevel  # its numbers are stored in extended_query_tag.level
from ..dicom.value_kinds import KINDS
from .person_name_words import delete_person_name_words, replace_person_name_words
from .schema import (
    extended_query_tag,
    extended_query_tag_datetime,
    extended_query_tag_double,
    extended_query_tag_error,
    extended_query_tag_long,
    extended_query_tag_person_name,
    extended_query_tag_string,
)
from .upsert import insert_statement

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_TAG_SET_LOCK_ID = 0x45515453  # taken shared by stores, exclusively by a change of the tag set


class TagStatus(IntEnum):
    """Whether a tag's existing instances are indexed yet."""

    ADDING = 0
    READY = 1
    DELETING = 2


VALUE_TABLES: dict[str, Table] = {
    "string": extended_query_tag_string,
    "person_name": extended_query_tag_person_name,
    "datetime": extended_query_tag_datetime,
    "long": extended_query_tag_long,
    "double": extended_query_tag_double,
}
"""The value table of each kind of value (see dicom.value_kinds.KINDS)."""


def value_table(vr: str) -> Table:
    """The table that holds the values of a tag with this VR."""
    return VALUE_TABLES[KINDS[vr]]


@dataclass(frozen=True)
class TagValue:
    """One value to index: the owner (study, series or instance key) and the instance version it came from."""

    owner_key: int
    value: object
    version: int


_ERROR_COUNT = (
    select(func.count())
    .where(extended_query_tag_error.c.tag_key == extended_query_tag.c.tag_key)
    .scalar_subquery()
    .label("error_count")
)
_TAGS = select(extended_query_tag, _ERROR_COUNT)


async def lock_tag_set(conn: AsyncConnection, exclusive: bool) -> None:
    """Orders stores and changes of the tag set on PostgreSQL (SQLite has a single writer anyway).

    A store holds the lock shared while it reads the tags and indexes its instances; adding tags
    holds it exclusively, so a store sees either none or all of the new tags, and a reindex that
    starts after the tags are added sees every instance stored without them.
    """
    if conn.dialect.name == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await conn.execute(text(f"SELECT {function}(:id)"), {"id": _TAG_SET_LOCK_ID})


async def all_tags(conn: AsyncConnection) -> list[Row]:
    """Every tag with its error count, in the order they were added."""
    return list(await conn.execute(_TAGS.order_by(extended_query_tag.c.tag_key)))


async def page_of_tags(conn: AsyncConnection, limit: int, offset: int) -> list[Row]:
    """A page of the tags with their error counts, in the order they were added."""
    return list(await conn.execute(_TAGS.order_by(extended_query_tag.c.tag_key).limit(limit).offset(offset)))


async def find_tag(conn: AsyncConnection, path: str) -> Row | None:
    """The tag with this path (8 uppercase hex digits), with its error count."""
    return (await conn.execute(_TAGS.where(extended_query_tag.c.path == path))).first()


async def tags_by_key(conn: AsyncConnection, tag_keys: Sequence[int]) -> list[Row]:
    """The tags among ``tag_keys`` that still exist, with their error counts."""
    return list(await conn.execute(_TAGS.where(extended_query_tag.c.tag_key.in_(tag_keys))))


async def count_tags(conn: AsyncConnection) -> int:
    """How many tags exist."""
    return (await conn.execute(select(func.count()).select_from(extended_query_tag))).scalar_one()


async def add_tags(conn: AsyncConnection, tags: Sequence[Mapping], operation_id: str) -> list[int]:
    """Adds tags (``path``, ``vr``, ``private_creator``, ``level``) as ``adding``, queryable once ready."""
    now = datetime.now(UTC)
    keys = []
    for tag in tags:
        result = await conn.execute(
            extended_query_tag.insert()
            .values(
                **tag,
                status=int(TagStatus.ADDING),
                query_status=1,
                operation_id=operation_id,
                created_at=now,
            )
            .returning(extended_query_tag.c.tag_key)
        )
        keys.append(result.scalar_one())
    return keys


async def set_query_status(conn: AsyncConnection, tag_key: int, enabled: bool) -> None:
    """Enables or disables searching on a tag."""
    await conn.execute(
        update(extended_query_tag).where(extended_query_tag.c.tag_key == tag_key).values(query_status=int(enabled))
    )


async def finish_adding(conn: AsyncConnection, tag_keys: Sequence[int]) -> None:
    """Makes the tags ready; a tag with indexing errors becomes ready with searching disabled."""
    if not tag_keys:
        return
    has_errors = select(extended_query_tag_error.c.tag_key).where(
        extended_query_tag_error.c.tag_key == extended_query_tag.c.tag_key
    )
    await conn.execute(
        update(extended_query_tag)
        .where(extended_query_tag.c.tag_key.in_(tag_keys))
        .values(status=int(TagStatus.READY), operation_id=None)
    )
    await conn.execute(
        update(extended_query_tag)
        .where(extended_query_tag.c.tag_key.in_(tag_keys), has_errors.exists())
        .values(query_status=0)
    )


async def delete_tag(conn: AsyncConnection, tag: Row) -> None:
    """Removes a tag with its values, person-name words and errors."""
    if KINDS[tag.vr] == "person_name":
        owners = select(extended_query_tag_person_name.c.owner_key).where(
            extended_query_tag_person_name.c.tag_key == tag.tag_key
        )
        await delete_person_name_words(conn, int(tag.path, 16), list((await conn.execute(owners)).scalars()))
    table = value_table(tag.vr)
    await conn.execute(delete(table).where(table.c.tag_key == tag.tag_key))
    await conn.execute(delete(extended_query_tag_error).where(extended_query_tag_error.c.tag_key == tag.tag_key))
    await conn.execute(delete(extended_query_tag).where(extended_query_tag.c.tag_key == tag.tag_key))


async def write_values(conn: AsyncConnection, tag: Row, values: Iterable[TagValue]) -> None:
    """Indexes values of a tag; an owner's existing value is replaced only by one from a newer instance."""
    newest: dict[int, TagValue] = {}
    for value in values:
        current = newest.get(value.owner_key)
        if current is None or value.version > current.version:
            newest[value.owner_key] = value
    if not newest:
        return
    is_name = KINDS[tag.vr] == "person_name"
    table = value_table(tag.vr)
    rows = [
        {"tag_key": tag.tag_key, "owner_key": item.owner_key, "value": item.value, "version": item.version}
        for item in newest.values()
    ]
    if is_name:
        for row in rows:
            name = row["value"]
            row["value"], row["words"] = name.key, name.words
    statement = insert_statement(conn, table).values(rows)
    replaced = ["value", "version", *(["words"] if is_name else [])]
    statement = statement.on_conflict_do_update(
        index_elements=["tag_key", "owner_key"],
        set_={name: statement.excluded[name] for name in replaced},
        where=table.c.version < statement.excluded.version,
    ).returning(table.c.owner_key)
    changed = list((await conn.execute(statement)).scalars())
    if is_name and changed:
        tag_number = int(tag.path, 16)
        await replace_person_name_words(conn, [(tag_number, owner, newest[owner].value.words) for owner in changed])


async def record_errors(conn: AsyncConnection, tag_key: int, errors: Sequence[Mapping]) -> None:
    """Records indexing errors of a tag (one per instance; a repeated instance keeps its first error)."""
    if errors:
        now = datetime.now(UTC)
        statement = insert_statement(conn, extended_query_tag_error).values(
            [{**error, "tag_key": tag_key, "created_time": now} for error in errors]
        )
        await conn.execute(statement.on_conflict_do_nothing(index_elements=["tag_key", "instance_key"]))


async def page_of_errors(conn: AsyncConnection, tag_key: int, limit: int, offset: int) -> list[Row]:
    """A page of a tag's indexing errors, oldest first."""
    statement = (
        select(extended_query_tag_error)
        .where(extended_query_tag_error.c.tag_key == tag_key)
        .order_by(extended_query_tag_error.c.created_time, extended_query_tag_error.c.instance_key)
        .limit(limit)
        .offset(offset)
    )
    return list(await conn.execute(statement))


async def delete_owned_values(
    conn: AsyncConnection, instance_keys: Sequence[int], series_keys: Sequence[int], study_keys: Sequence[int]
) -> None:
    """Removes the values (and person-name words) owned by deleted instances, series and studies."""
    owners = {TagLevel.INSTANCE: instance_keys, TagLevel.SERIES: series_keys, TagLevel.STUDY: study_keys}
    tags = [tag for tag in await all_tags(conn) if owners[TagLevel(tag.level)]]
    for tag in tags:
        keys = owners[TagLevel(tag.level)]
        table = value_table(tag.vr)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            await conn.execute(delete(table).where(table.c.tag_key == tag.tag_key, table.c.owner_key.in_(chunk)))
        if KINDS[tag.vr] == "person_name":
            await delete_person_name_words(conn, int(tag.path, 16), keys)
