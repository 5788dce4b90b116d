"""What every feature works with: the settings, the index database, the blob store and the worker pool."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from ..settings import Settings
from ..storage.blobs import FileBlobStore
from ..storage.database import Database
from . import cpu_work
from .events.dispatcher import Dispatcher
from .worker_pool import ProcessPool


@dataclass
class Services:
    """The long-lived objects a running emulator shares between requests."""

    settings: Settings
    db: Database
    blobs: FileBlobStore
    cpu_pool: Executor
    io_pool: ThreadPoolExecutor
    pixel_threads: ThreadPoolExecutor
    """Threads for pixel work that numpy and Pillow do without the GIL (rendering native frames): for
    such work a thread of this process costs less than the hop to a worker process and back."""
    cpu_workers: int  # processes in cpu_pool; 0 when CPU work runs in threads of this process
    events: Dispatcher
    partition_keys: dict[str, int] = field(default_factory=dict)
    operations_wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when this process creates an operation, so its runner starts it without waiting for a poll."""

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Opens the database and blob store named by ``settings`` and starts the CPU worker pool."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        workers = settings.cpu_workers if settings.cpu_workers is not None else min(os.cpu_count() or 1, 4)
        if workers > 0:
            pool: Executor = ProcessPool(workers, initializer=cpu_work.prepare_worker)
        else:
            pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cpu")
        return cls(
            settings=settings,
            db=Database(settings.effective_database_url),
            blobs=FileBlobStore(settings.blob_dir),
            cpu_pool=pool,
            io_pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="blob-io"),
            pixel_threads=ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 4), thread_name_prefix="pixels"),
            cpu_workers=workers,
            events=Dispatcher(settings),
        )

    async def start_workers(self) -> None:
        """Starts every CPU worker now, so the first requests do not pay for their start-up."""
        if isinstance(self.cpu_pool, ProcessPool):
            await self.cpu_pool.start()

    async def close(self) -> None:
        """Stops event delivery and the worker pool, and closes the database."""
        await self.events.stop()
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        self.io_pool.shutdown(wait=False, cancel_futures=True)
        self.pixel_threads.shutdown(wait=False, cancel_futures=True)
        await self.db.dispose()
