"""INSERT statements that can say what to do on a conflict, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from sqlalchemy import Insert, Table, bindparam, func
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


def insert_statement(conn: AsyncConnection, table: Table):
    """An INSERT into ``table`` for the connection's dialect, with ``on_conflict_do_*`` available."""
    return _insert(conn.dialect.name)(table)


def _insert(dialect: str):
    """The dialect's INSERT construct; PostgreSQL's module loads only for a PostgreSQL index."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    return sqlite_insert


@lru_cache(maxsize=256)
def coalescing_upsert(
    dialect: str, table: Table, conflict: tuple[str, ...], inserted: tuple[str, ...], names: tuple[str, ...], key: str
) -> Insert:
    """A prebuilt INSERT into ``table`` of the ``conflict``, ``inserted`` and ``names`` columns, returning ``key``.

    On a conflict over ``conflict`` the existing row takes each value of ``names`` that the new row
    does not give as NULL. Every value is bound by its column name at execution (see :func:`bound`).
    Built once per shape: composing the statement costs more than running it.
    """
    columns = (*conflict, *inserted, *names)
    statement = _insert(dialect)(table).values({name: bindparam(f"v_{name}") for name in columns})
    update = {name: func.coalesce(statement.excluded[name], table.c[name]) for name in names}
    return statement.on_conflict_do_update(
        index_elements=list(conflict), set_=update or {conflict[-1]: statement.excluded[conflict[-1]]}
    ).returning(table.c[key])


def bound(values: dict) -> dict:
    """``values`` named as :func:`coalescing_upsert` binds them."""
    return {f"v_{name}": value for name, value in values.items()}
