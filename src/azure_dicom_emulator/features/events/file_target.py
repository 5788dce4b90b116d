"""The ``file`` sink: events appended to a file as JSON lines, flushed to disk before they count as delivered."""

from __future__ import annotations

import asyncio
import json
import os

from ...settings.event_sinks import FileSink
from .envelope import in_schema
from .target import DeliveryFailed


class FileTarget:
    """Appends each event as one line of JSON."""

    batch_size = 500
    endpoint = None  # nothing to validate

    def __init__(self, config: FileSink) -> None:
        self.config = config

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """Appends ``events`` and syncs the file; an I/O error is a retryable failure."""
        lines = "".join(json.dumps(in_schema(event, self.config.event_schema)) + "\n" for event in events)
        try:
            await asyncio.to_thread(self._append, lines.encode())
        except OSError as exc:
            raise DeliveryFailed(f"cannot write {self.config.path}: {exc.strerror or exc}") from exc

    def _append(self, data: bytes) -> None:
        self.config.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.config.path, "ab") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())

    async def close(self) -> None:
        """Nothing stays open between deliveries."""
