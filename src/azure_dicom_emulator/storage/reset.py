"""Emptying the index: every table of the schema back to its state after the migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Table, delete, func, select, text, update

from .schema import RESETS, VERSION, VERSION_BEFORE_RESET, counter, event_sink, fault_rule, metadata, partition
from .tag_values import lock_tag_set

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

# Tables whose rows outlive a reset, each emptied in its own way (below): the others lose every row.
_KEPT_APART = {counter.name, partition.name, event_sink.name, fault_rule.name}


async def erase_everything(conn: AsyncConnection, default_partition_key: int) -> None:
    """Removes every row of data from the index, in the caller's transaction, and restarts its counters.

    Kept: the default partition, each event sink's row (its cursor back at the start, its
    validation kept), the fault injection rules and the version counter (numbers reserved before
    the reset are marked as such). Every other table of ``schema.metadata`` is emptied, tables
    added later included, and its keys start again at 1.
    """
    await lock_tag_set(conn, exclusive=True)  # waits for the stores in flight and holds off new ones
    emptied = [table for table in reversed(metadata.sorted_tables) if table.name not in _KEPT_APART]
    if conn.dialect.name == "postgresql":
        names = ", ".join(f'"{table.name}"' for table in emptied)
        await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
    else:
        for table in emptied:
            await conn.execute(delete(table))
    await conn.execute(delete(partition).where(partition.c.partition_key != default_partition_key))
    await _restart_keys(conn, partition, default_partition_key + 1)
    await conn.execute(update(counter).where(counter.c.name.not_in((RESETS, VERSION))).values(value=0))
    await conn.execute(update(counter).where(counter.c.name == RESETS).values(value=counter.c.value + 1))
    reserved = select(counter.c.value).where(counter.c.name == VERSION).scalar_subquery()
    await conn.execute(update(counter).where(counter.c.name == VERSION_BEFORE_RESET).values(value=reserved))
    await conn.execute(
        update(event_sink).values(
            position=0, attempts=0, next_attempt_at=None, last_error=None, owner=None, lease_until=None
        )
    )
    if conn.dialect.name == "sqlite":
        # Tables declared AUTOINCREMENT keep their counters here; the others reuse keys from the highest row.
        exists = await conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))
        if exists.first() is not None:
            await conn.execute(text("DELETE FROM sqlite_sequence"))


async def last_version_before_reset(conn: AsyncConnection) -> int:
    """The last version number reserved before the latest reset (0 when there was none)."""
    result = await conn.execute(select(counter.c.value).where(counter.c.name == VERSION_BEFORE_RESET))
    return result.scalar_one_or_none() or 0


async def resets(conn: AsyncConnection) -> int:
    """How many resets the index has had."""
    result = await conn.execute(select(counter.c.value).where(counter.c.name == RESETS))
    return result.scalar_one_or_none() or 0


async def _restart_keys(conn: AsyncConnection, table: Table, start: int) -> None:
    """Makes PostgreSQL's identity sequence of ``table`` hand out ``start`` next (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    column = next(iter(table.primary_key.columns))
    sequence = await conn.execute(select(func.pg_get_serial_sequence(table.name, column.name)))
    name = sequence.scalar_one()
    if name is not None:
        await conn.execute(text(f"ALTER SEQUENCE {name} RESTART WITH {int(start)}"))
