"""What the dispatcher needs of a sink: take a group of events, or fail saying whether to try again."""

from __future__ import annotations

from typing import Protocol


class DeliveryFailed(Exception):
    """A sink did not take the events; ``retryable`` False sends them straight to the dead letters.

    ``delivered`` is how many of the group's leading events the sink did take before it failed:
    those count as delivered, and only the rest are tried again.
    """

    def __init__(self, message: str, status: int | None = None, retryable: bool = True, delivered: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.delivered = delivered


class Target(Protocol):
    """One sink's destination."""

    batch_size: int  # how many events one delivery carries
    endpoint: str | None  # what must pass a validation handshake before the first delivery, if anything

    async def handshake(self, code: str, validation_url: str) -> bool:
        """Validates ``endpoint``: True at once, False when it may validate later via ``validation_url``."""

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """Delivers ``events`` (Event Grid schema, in sequence order) or raises DeliveryFailed.

        ``delivery_count`` is how many times these events were tried before. A sink that takes the
        events one by one says in DeliveryFailed.delivered how many of the first ones it took.
        """

    async def close(self) -> None:
        """Releases connections and files."""
