"""Any table's newest rows, for the inspector's pages of tables it has no page of its own for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Row, select

from .schema import metadata

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


def has_table(name: str) -> bool:
    """Whether the schema has a table called ``name``."""
    return name in metadata.tables


async def newest_rows(conn: AsyncConnection, name: str, limit: int) -> tuple[list[str], list[Row]]:
    """The column names of table ``name`` and up to ``limit`` of its rows, newest (highest key) first."""
    table = metadata.tables[name]
    order = [column.desc() for column in table.primary_key.columns]
    rows = list(await conn.execute(select(table).order_by(*order).limit(limit)))
    return [column.name for column in table.columns], rows
