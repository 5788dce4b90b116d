"""What every feature works with: the settings, the index database, the blob store and the worker pools."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..runtime.process_pool import ProcessPool
from ..settings import Settings
from ..storage import index
from ..storage.blob_store import BlobStore
from ..storage.database import Database
from .events.dispatcher import Dispatcher


@dataclass
class Services:
    """The long-lived objects a running emulator shares between requests."""

    settings: Settings
    db: Database
    blobs: BlobStore
    cpu_pool: Executor
    """Parses uploads and indexes frames; its processes cannot decode pixels. Both pools start their processes
    with their first job, so an idle server holds none."""
    pixel_pool: Executor
    """Decodes, transcodes and renders pixels."""
    io_pool: ThreadPoolExecutor
    cpu_workers: int  # processes in each CPU pool; 0 when CPU work runs in threads of this process
    events: Dispatcher
    partition_keys: dict[str, int] = field(default_factory=dict)
    operations_wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when this process creates an operation, so its runner starts it without waiting for a poll."""

    async def holds_instances(self) -> bool:
        """Whether the index holds any instance."""
        async with self.db.read() as conn:
            return await index.holds_instances(conn)

    async def start_pixel_workers(self) -> None:
        """Starts the pixel workers now (when they are processes) rather than with the first pixel job."""
        if isinstance(self.pixel_pool, ProcessPool):
            await self.pixel_pool.start()

    async def close(self) -> None:
        """Stops event delivery and the worker pools, and closes the blob store and the database."""
        await self.events.stop()
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        self.pixel_pool.shutdown(wait=False, cancel_futures=True)
        self.io_pool.shutdown(wait=False, cancel_futures=True)
        await self.blobs.close()
        await self.db.dispose()
