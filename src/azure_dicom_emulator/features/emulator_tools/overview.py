"""What the inspector's pages show beyond the service's own answers: the change feed's tail, any table's rows."""

from __future__ import annotations

import json

from ...storage import table_rows
from ..changefeed import FeedQuery, latest, read
from ..services import Services

WORKITEM_TABLE = "workitem"


async def change_feed_tail(services: Services, count: int) -> list[dict]:
    """The newest ``count`` change-feed entries (v1 JSON), newest first."""
    newest = await latest(services, 1, False)
    if newest is None:
        return []
    sequence = json.loads(newest)["sequence"]
    entries = json.loads(await read(services, FeedQuery(1, max(0, sequence - count), count, False)))
    return entries[::-1]


async def workitems(services: Services, limit: int) -> tuple[list[str], list[tuple]] | None:
    """The newest workitems' columns and rows, or None when this index has no workitems table."""
    if not table_rows.has_table(WORKITEM_TABLE):
        return None
    async with services.db.read() as conn:
        columns, rows = await table_rows.newest_rows(conn, WORKITEM_TABLE, limit)
    return columns, [tuple(row) for row in rows]
