"""Reset: the emulator emptied of every instance, change, event, tag, operation and partition at once."""

from __future__ import annotations

import asyncio
import logging

from ...storage import reset as reset_rows
from ...storage.database import retrying_deadlocks
from ..partitions import DEFAULT_PARTITION_KEY
from ..services import Services

log = logging.getLogger(__name__)
WATCH_SECONDS = 0.25
"""How often a process looks for a reset made through another one (its caches are dropped then)."""


async def reset_data(services: Services) -> None:
    """Empties the index in one transaction and sets every instance file aside before it commits.

    Stores in flight finish before it or start after it: their files are published inside their
    own transaction, which the reset's locks order. A reset that PostgreSQL aborts to break a
    deadlock with a delete in flight is tried again. The files set aside are deleted in an I/O
    thread afterwards, so the answer does not wait for them.
    """
    await retrying_deadlocks(lambda: _erase_once(services))
    forget_data(services)
    services.io_pool.submit(_remove_set_aside, services)


async def _erase_once(services: Services) -> None:
    aside: object | None = None
    try:
        async with services.db.write() as conn:
            await reset_rows.erase_everything(conn, DEFAULT_PARTITION_KEY)
            aside = await services.blobs.set_aside_published()
    except BaseException:
        if aside is not None:
            await services.blobs.restore_set_aside(aside)
        raise


def forget_data(services: Services) -> None:
    """Drops what this process remembers of the data: partition keys, the events inspector's events."""
    services.partition_keys.clear()
    services.events.forget_events()


class ResetWatcher:
    """Notices resets made through other processes and drops this process's memory of the data."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.seen = 0

    async def start_counting(self) -> None:
        """Takes the number of resets so far as seen."""
        async with self.services.db.read() as conn:
            self.seen = await reset_rows.resets(conn)

    async def watch(self) -> None:
        """Forever: when the number of resets grows, forgets the data."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            async with self.services.db.read() as conn:
                count = await reset_rows.resets(conn)
            if count != self.seen:
                self.seen = count
                forget_data(self.services)


def _remove_set_aside(services: Services) -> None:
    try:
        services.blobs.remove_set_aside()
    except OSError:
        log.exception("could not delete the files a reset set aside")
