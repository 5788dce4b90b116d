"""What every feature works with: the settings, the index database, the blob store and the worker pools."""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from .. import allocator
from ..settings import Settings
from ..storage.blobs import FileBlobStore
from ..storage.database import Database
from . import store_worker
from .events.dispatcher import Dispatcher
from .worker_pool import ProcessPool


@dataclass
class Services:
    """The long-lived objects a running emulator shares between requests."""

    settings: Settings
    db: Database
    blobs: FileBlobStore
    cpu_pool: Executor
    """Parses uploads and indexes frames; its processes cannot decode pixels."""
    pixel_pool: Executor
    """Decodes, transcodes and renders pixels."""
    io_pool: ThreadPoolExecutor
    cpu_workers: int  # processes in each CPU pool; 0 when CPU work runs in threads of this process
    events: Dispatcher
    partition_keys: dict[str, int] = field(default_factory=dict)
    operations_wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when this process creates an operation, so its runner starts it without waiting for a poll."""

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Opens the database and blob store named by ``settings`` and creates the CPU worker pools.

        Two pools of ``settings.effective_cpu_workers`` processes each: ``cpu_pool`` for the store
        path's parsing and frame indexing, whose workers leave out the pixel libraries
        (``unused_imports``), and ``pixel_pool`` for decoding, transcoding and rendering, whose
        workers start with the first such job and keep freed memory for the next one (``allocator``).
        With no CPU workers, one thread pool does both.
        """
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        workers = settings.effective_cpu_workers
        if workers > 0:
            pool: Executor = ProcessPool(workers, initializer=store_worker.prepare)
            pixel_pool: Executor = ProcessPool(workers, initializer=allocator.keep_freed_memory)
        else:
            pool = pixel_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cpu")
        return cls(
            settings=settings,
            db=Database(settings.effective_database_url),
            blobs=FileBlobStore(settings.blob_dir),
            cpu_pool=pool,
            pixel_pool=pixel_pool,
            io_pool=ThreadPoolExecutor(max_workers=4, thread_name_prefix="blob-io"),
            cpu_workers=workers,
            events=Dispatcher(settings),
        )

    async def start_workers(self) -> None:
        """Starts every worker of ``cpu_pool`` now, so the first stores do not pay for their start-up.

        ``pixel_pool`` starts its workers with the first jobs that need them: a server that only
        stores and serves stored bytes never runs them.
        """
        if isinstance(self.cpu_pool, ProcessPool):
            await self.cpu_pool.start()

    async def close(self) -> None:
        """Stops event delivery and the worker pools, and closes the database."""
        await self.events.stop()
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        self.pixel_pool.shutdown(wait=False, cancel_futures=True)
        self.io_pool.shutdown(wait=False, cancel_futures=True)
        await self.db.dispose()
