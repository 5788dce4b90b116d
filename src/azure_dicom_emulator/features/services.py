"""What every feature works with: the settings, the index database, the blob store and the worker pool."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ..settings import Settings
from ..storage.blobs import FileBlobStore
from ..storage.database import Database


@dataclass
class Services:
    """The long-lived objects a running emulator shares between requests."""

    settings: Settings
    db: Database
    blobs: FileBlobStore
    cpu_pool: ProcessPoolExecutor
    partition_keys: dict[str, int] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        """Opens the database and blob store named by ``settings`` and starts the CPU worker pool."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        workers = max(1, min(os.cpu_count() or 1, 4))
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"))
        return cls(
            settings=settings,
            db=Database(settings.effective_database_url),
            blobs=FileBlobStore(settings.blob_dir),
            cpu_pool=pool,
        )

    async def close(self) -> None:
        """Stops the worker pool and closes the database."""
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        await self.db.dispose()
