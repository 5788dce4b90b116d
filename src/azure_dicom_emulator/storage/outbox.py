"""Queries on the event outbox, the sinks' cursors and leases, and dead-lettered events.

Each function runs on a connection its caller opened, so the outbox rows share the change
feed's transaction and a cursor moves in the same transaction as its dead letters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Integer, Row, bindparam, delete, func, or_, select, update

from .database import InlineStatements, fetch_all
from .schema import INSPECTOR_CLEARED, change_feed, counter, event_dead_letter, event_outbox, event_sink
from .upsert import insert_statement

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


async def insert_events(conn: AsyncConnection, rows: Sequence[dict]) -> None:
    """Adds outbox rows (``sequence``, ``body``, ``created_at``)."""
    if rows:
        await conn.execute(event_outbox.insert(), list(rows))


_EVENTS_AFTER = (
    select(event_outbox.c.sequence, event_outbox.c.body)
    .where(event_outbox.c.sequence > bindparam("position"))
    .order_by(event_outbox.c.sequence)
    .limit(bindparam("limit", type_=Integer))
)


async def events_after(conn: AsyncConnection | InlineStatements, position: int, limit: int) -> list[Row]:
    """Up to ``limit`` outbox rows after sequence ``position``, in sequence order."""
    return await fetch_all(conn, _EVENTS_AFTER, {"position": position, "limit": limit})


async def newest_event(conn: AsyncConnection) -> int:
    """The newest outbox row's sequence, or 0: what the sinks are to catch up with."""
    return (await conn.execute(select(func.coalesce(func.max(event_outbox.c.sequence), 0)))).scalar_one()


async def newest_sequence(conn: AsyncConnection) -> int:
    """The newest change-feed sequence, or 0: where a new sink or follower starts."""
    return (await conn.execute(select(func.coalesce(func.max(change_feed.c.sequence), 0)))).scalar_one()


async def prune(conn: AsyncConnection, through: int, created_before: datetime) -> int:
    """Deletes outbox rows up to sequence ``through`` written before ``created_before``; returns how many."""
    result = await conn.execute(
        delete(event_outbox).where(event_outbox.c.sequence <= through, event_outbox.c.created_at < created_before)
    )
    return result.rowcount


# -- sinks --------------------------------------------------------------------------------------


async def add_sinks(conn: AsyncConnection, names: Sequence[str], position: int) -> None:
    """Creates a cursor at ``position`` for each sink in ``names`` that has none yet."""
    for name in names:
        await conn.execute(
            insert_statement(conn, event_sink)
            .values(name=name, position=position, attempts=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )


async def sink(conn: AsyncConnection, name: str) -> Row:
    """The cursor row of sink ``name``."""
    return (await conn.execute(select(event_sink).where(event_sink.c.name == name))).one()


async def sinks(conn: AsyncConnection, names: Sequence[str]) -> list[Row]:
    """The cursor rows of the sinks in ``names``, by name."""
    result = await conn.execute(select(event_sink).where(event_sink.c.name.in_(names)).order_by(event_sink.c.name))
    return list(result)


async def claim(
    conn: AsyncConnection,
    name: str,
    owner: str,
    now: datetime,
    lease_until: datetime,
    dead_owner: str | None = None,
) -> bool:
    """Takes or renews the lease on sink ``name`` for ``owner``; False while another worker holds it.

    ``dead_owner`` names a holder known to be gone, whose lease may be taken before it expires.
    """
    holders = [event_sink.c.owner == owner, event_sink.c.lease_until.is_(None), event_sink.c.lease_until < now]
    if dead_owner is not None:
        holders.append(event_sink.c.owner == dead_owner)
    result = await conn.execute(
        update(event_sink).where(event_sink.c.name == name, or_(*holders)).values(owner=owner, lease_until=lease_until)
    )
    return result.rowcount == 1


async def release(conn: AsyncConnection, name: str, owner: str) -> None:
    """Gives up ``owner``'s lease on sink ``name``, so another worker may take it at once."""
    await conn.execute(
        update(event_sink)
        .where(event_sink.c.name == name, event_sink.c.owner == owner)
        .values(owner=None, lease_until=None)
    )


async def advance(conn: AsyncConnection, name: str, owner: str, position: int, lease_until: datetime) -> bool:
    """Moves the cursor of sink ``name`` to ``position`` and clears its retry state; False if the lease was lost."""
    result = await conn.execute(
        update(event_sink)
        .where(event_sink.c.name == name, event_sink.c.owner == owner)
        .values(position=position, attempts=0, next_attempt_at=None, last_error=None, lease_until=lease_until)
    )
    return result.rowcount == 1


async def record_failure(
    conn: AsyncConnection, name: str, owner: str, attempts: int, next_attempt_at: datetime, error: str
) -> bool:
    """Notes a failed attempt at sink ``name``'s next events; False if the lease was lost."""
    result = await conn.execute(
        update(event_sink)
        .where(event_sink.c.name == name, event_sink.c.owner == owner)
        .values(attempts=attempts, next_attempt_at=next_attempt_at, last_error=error)
    )
    return result.rowcount == 1


async def set_validation(
    conn: AsyncConnection, name: str, validated_endpoint: str | None, validation_code: str | None
) -> None:
    """Records the endpoint that passed sink ``name``'s validation handshake, or the code it awaits."""
    await conn.execute(
        update(event_sink)
        .where(event_sink.c.name == name)
        .values(validated_endpoint=validated_endpoint, validation_code=validation_code)
    )


async def validate_manually(conn: AsyncConnection, name: str, code: str, endpoint: str) -> bool:
    """Marks sink ``name`` validated if ``code`` is the code its handshake awaits; False otherwise."""
    result = await conn.execute(
        update(event_sink)
        .where(event_sink.c.name == name, event_sink.c.validation_code == code)
        .values(validated_endpoint=endpoint, validation_code=None)
    )
    return result.rowcount == 1


# -- dead letters -------------------------------------------------------------------------------


async def add_dead_letters(conn: AsyncConnection, rows: Sequence[dict]) -> None:
    """Parks events a sink could not take (``sink``, ``sequence``, ``body``, ``reason``, ``attempts``, ...)."""
    if rows:
        await conn.execute(event_dead_letter.insert(), list(rows))


async def dead_letters(conn: AsyncConnection, sink_name: str | None, limit: int) -> list[Row]:
    """Up to ``limit`` dead-lettered events, oldest first, of one sink or of all."""
    statement = select(event_dead_letter).order_by(event_dead_letter.c.id).limit(limit)
    if sink_name is not None:
        statement = statement.where(event_dead_letter.c.sink == sink_name)
    return list(await conn.execute(statement))


# -- inspector ----------------------------------------------------------------------------------


async def inspector_cleared_through(conn: AsyncConnection) -> int:
    """The sequence through which the inspector was last cleared."""
    result = await conn.execute(select(counter.c.value).where(counter.c.name == INSPECTOR_CLEARED))
    return result.scalar_one()


async def clear_inspector(conn: AsyncConnection) -> int:
    """Hides every event so far from the inspector, in every worker; returns the sequence cleared through."""
    newest = await newest_sequence(conn)
    await conn.execute(update(counter).where(counter.c.name == INSPECTOR_CLEARED).values(value=newest))
    return newest
