"""Background tasks of a server process: loops that survive their failures, and waits that a nudge cuts short."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
RESTART_PAUSE_SECONDS = 1.0


def forever(loop: Callable[[], Awaitable[None]], name: str) -> asyncio.Task:
    """Runs ``loop`` until cancelled, starting it again (after a pause) when it fails."""

    async def guarded() -> None:
        while True:
            try:
                await loop()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed; starting it again", name)
                await asyncio.sleep(RESTART_PAUSE_SECONDS)

    return asyncio.create_task(guarded(), name=name)


async def wait(event: asyncio.Event, timeout: float) -> None:
    """Waits until ``event`` is set or ``timeout`` passes, then clears it."""
    # asyncio.timeout, unlike wait_for, never swallows a cancellation that coincides with the event.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
    event.clear()
