"""Recording changes: change-feed rows and, in the same transaction, their events in the outbox (spec §7, §12)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..storage import index, outbox
from ..storage.index import ChangeAction, InstanceId
from .events.envelope import event_grid_event
from .scope import Scope
from .services import Services

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


async def record(
    conn: AsyncConnection,
    services: Services,
    scope: Scope,
    action: ChangeAction,
    changes: Sequence[tuple[InstanceId, int]],
) -> None:
    """Appends a change-feed entry per (instance id, version) and queues its event, on ``conn``'s transaction.

    Nothing is written to the outbox while events are disabled (no sink, no inspector): Azure
    emits no events for changes made then either. Call ``services.events.wake()`` after the
    commit so the sinks hear of the new events at once.
    """
    sequences, timestamp = await index.append_changes(conn, scope.partition_key, action, changes)
    if not services.settings.events_enabled:
        return
    source = services.events.source
    rows = [
        {
            "sequence": sequence,
            "body": json.dumps(
                event_grid_event(source, action, scope.partition_name, instance_id, sequence, timestamp),
                separators=(",", ":"),
            ),
            "created_at": timestamp,
        }
        for (instance_id, _), sequence in zip(changes, sequences, strict=True)
    ]
    await outbox.insert_events(conn, rows)
