"""Fault injection: the rules in force, shared by every server process, and which one a request fires."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import random
import time
from collections.abc import Sequence

from pydantic import ValidationError

from ...errors import BadRequest
from ...settings import describe_errors
from ...settings.faults import FAULT_RULES, FaultRule
from ...storage import faults as fault_rows
from ..services import Services

CACHE_SECONDS = 0.5
"""How long a process trusts the rules it read: rules set through another process apply after at most this."""
TOOLS_PREFIX = "/emulator"
"""The tools' own routes, which no fault touches (a rule for ``*`` must not lock the rules in).
"""


def parse_rules(body: object) -> list[FaultRule]:
    """The rules of a request body (a JSON list); BadRequest naming each faulty field."""
    try:
        return FAULT_RULES.validate_python(body)
    except ValidationError as exc:
        raise BadRequest("Invalid fault rules: " + describe_errors(exc)) from exc


class FaultBook:
    """This process's view of the rules in force, read from the database at most every CACHE_SECONDS."""

    def __init__(self) -> None:
        self._rules: list[tuple[int, FaultRule]] = []
        self._exhausted: set[int] = set()
        self._read_at = float("-inf")

    async def add(self, services: Services, rules: Sequence[FaultRule]) -> None:
        """Adds ``rules`` after the rules in force, in every process."""
        async with services.db.write() as conn:
            await fault_rows.add_rules(conn, [(_as_json(rule), rule.count) for rule in rules])
        self._read_at = float("-inf")

    async def replace(self, services: Services, rules: Sequence[FaultRule]) -> None:
        """Makes ``rules`` the only rules in force (an empty list clears them), in every process."""
        async with services.db.write() as conn:
            await fault_rows.clear_rules(conn)
            await fault_rows.add_rules(conn, [(_as_json(rule), rule.count) for rule in rules])
        self._read_at = float("-inf")

    async def listing(self, services: Services) -> list[dict]:
        """Every rule in force, in order, with its id and how often it fired."""
        async with services.db.read() as conn:
            rows = await fault_rows.rules(conn)
        return [{"id": row.rule_id, **json.loads(row.rule), "fired": row.fired} for row in rows]

    async def fire(self, services: Services, method: str, path: str) -> FaultRule | None:
        """The first rule that ``method`` and ``path`` match and that fires (its chance, its count), counted."""
        if path.startswith(TOOLS_PREFIX):
            return None
        for rule_id, rule in await self._current(services):
            if rule_id in self._exhausted or not _matches(rule, method, path):
                continue
            if rule.probability < 1.0 and random.random() >= rule.probability:
                continue
            async with services.db.write() as conn:
                fired = await fault_rows.fire(conn, rule_id)
            if fired:
                return rule
            self._exhausted.add(rule_id)
        return None

    async def _current(self, services: Services) -> list[tuple[int, FaultRule]]:
        if time.monotonic() - self._read_at >= CACHE_SECONDS:
            async with services.db.read() as conn:
                rows = await fault_rows.rules(conn)
            self._rules = [(row.rule_id, FaultRule.model_validate_json(row.rule)) for row in rows]
            self._exhausted = {row.rule_id for row in rows if row.max_count is not None and row.fired >= row.max_count}
            self._read_at = time.monotonic()
        return self._rules


async def delay(rule: FaultRule) -> None:
    """Waits the rule's ``delay_ms``."""
    if rule.delay_ms:
        await asyncio.sleep(rule.delay_ms / 1000)


def _matches(rule: FaultRule, method: str, path: str) -> bool:
    return rule.method in ("*", method) and fnmatch.fnmatchcase(path, rule.path)


def _as_json(rule: FaultRule) -> str:
    return rule.model_dump_json(exclude_none=True)
