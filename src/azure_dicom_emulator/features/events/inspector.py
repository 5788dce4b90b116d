"""The in-memory inspector behind ``GET /emulator/events``: the latest events, as every worker received them.

Each worker process follows the outbox itself and keeps the newest events in memory; clearing is
recorded in the database (as the sequence cleared through), so it applies in every worker.
"""

from __future__ import annotations

from collections import deque


class Inspector:
    """The newest ``capacity`` events this process has seen, in sequence order."""

    def __init__(self, capacity: int) -> None:
        self.events: deque[tuple[int, dict]] = deque(maxlen=capacity)

    def add(self, sequence: int, event: dict) -> None:
        """Keeps ``event``, dropping the oldest one when full."""
        self.events.append((sequence, event))

    def after(self, cleared_through: int) -> list[dict]:
        """The kept events whose sequence is above ``cleared_through``, oldest first."""
        return [event for sequence, event in self.events if sequence > cleared_through]
