"""The in-memory inspector behind ``GET /emulator/events``: the latest events, as every worker received them.

Each worker process follows the outbox itself and keeps the newest events in memory; clearing is
recorded in the database (as the sequence cleared through), so it applies in every worker.
"""

from __future__ import annotations

import json
from collections import deque


class Inspector:
    """The newest ``capacity`` events this process has seen, in sequence order.

    Events are kept as the JSON text the outbox holds and parsed only when someone looks: a STOW
    of many instances adds as many events, and most are never inspected.
    """

    def __init__(self, capacity: int) -> None:
        self.events: deque[tuple[int, str]] = deque(maxlen=capacity)

    def add(self, sequence: int, event: str) -> None:
        """Keeps ``event`` (its JSON text), dropping the oldest one when full."""
        self.events.append((sequence, event))

    def after(self, cleared_through: int) -> list[dict]:
        """The kept events whose sequence is above ``cleared_through``, oldest first."""
        return [json.loads(event) for sequence, event in self.events if sequence > cleared_through]
