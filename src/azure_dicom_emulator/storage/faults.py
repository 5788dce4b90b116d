"""Queries on the fault injection rules and their firing counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Row, delete, or_, select, update

from .schema import fault_rule

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


async def clear_rules(conn: AsyncConnection) -> None:
    """Removes every rule."""
    await conn.execute(delete(fault_rule))


async def add_rules(conn: AsyncConnection, rules: Sequence[tuple[str, int | None]]) -> None:
    """Adds ``rules`` (each its JSON and its most firings, or None) after those in force, none fired yet."""
    if rules:
        await conn.execute(
            fault_rule.insert(), [{"rule": rule, "max_count": max_count, "fired": 0} for rule, max_count in rules]
        )


async def rules(conn: AsyncConnection) -> list[Row]:
    """Every rule in force (``rule_id``, ``rule``, ``max_count``, ``fired``), in the order they were given."""
    return list(await conn.execute(select(fault_rule).order_by(fault_rule.c.rule_id)))


async def fire(conn: AsyncConnection, rule_id: int) -> bool:
    """Counts one firing of rule ``rule_id``; False (and nothing counted) when it has fired its most times."""
    result = await conn.execute(
        update(fault_rule)
        .where(
            fault_rule.c.rule_id == rule_id,
            or_(fault_rule.c.max_count.is_(None), fault_rule.c.fired < fault_rule.c.max_count),
        )
        .values(fired=fault_rule.c.fired + 1)
    )
    return result.rowcount == 1
