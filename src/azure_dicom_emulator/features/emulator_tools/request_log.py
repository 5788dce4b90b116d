"""The request log: the latest requests this process served, kept in memory."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from ..timestamps import utc_text


class RequestLog:
    """The newest ``capacity`` requests of this process (time, method, path, status, duration, request id)."""

    def __init__(self, capacity: int) -> None:
        self.entries: deque[tuple[float, str, str, int, float, str]] = deque(maxlen=capacity)

    def record(self, started: float, method: str, path: str, status: int, duration_ms: float, request_id: str) -> None:
        """Keeps one served request (``started`` in seconds since the epoch), dropping the oldest when full."""
        self.entries.append((started, method, path, status, duration_ms, request_id))

    def latest(self, limit: int) -> list[dict]:
        """Up to ``limit`` requests, newest first."""
        newest = list(self.entries)[-limit:][::-1] if limit else []
        return [
            {
                "time": utc_text(datetime.fromtimestamp(started, UTC)),
                "method": method,
                "path": path,
                "status": status,
                "durationMs": round(duration_ms, 3),
                "requestId": request_id,
            }
            for started, method, path, status, duration_ms, request_id in newest
        ]
