"""INSERT statements that can say what to do on a conflict, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_statement(conn: AsyncConnection, table: Table):  # noqa: ANN201
    """An INSERT into ``table`` for the connection's dialect, with ``on_conflict_do_*`` available."""
    return (postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
