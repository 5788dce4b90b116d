"""The composition root: builds the objects a running emulator shares (database, blob store, pools, events).

Features receive them as ``features.services.Services`` and never build them; this module, owned by
``app``, is the one place that knows which concrete classes a configuration asks for.
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor

from .features import operations
from .features.events.dispatcher import Dispatcher
from .features.retrieve import pixel_worker
from .features.services import Services
from .features.store import worker as store_worker
from .runtime.deferred_import import deferred
from .runtime.process_pool import ProcessPool
from .settings import Settings
from .storage.blob_store import BlobStore
from .storage.blobs import FileBlobStore
from .storage.database import Database

IO_THREADS = 4


def build_services(settings: Settings) -> Services:
    """Opens the database and blob store named by ``settings`` and creates the CPU worker pools.

    Two pools of ``settings.effective_cpu_workers`` processes each, whose workers start with their first
    job: ``cpu_pool`` for the store path's parsing and frame indexing, whose workers leave out the pixel
    libraries (``runtime.pixel_library_exclusion``) and whose jobs run in threads here until they are
    ready, and ``pixel_pool`` for decoding, transcoding and rendering, whose workers keep freed memory
    for the next job (``runtime.allocator``). With no CPU workers, one thread pool does both.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    workers = settings.effective_cpu_workers
    if workers > 0:
        # This process can run the parsing jobs itself: it does while the workers start.
        stand_in = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cpu-stand-in")
        pool: Executor = ProcessPool(workers, initializer=store_worker.prepare, stand_in=stand_in)
        pixel_pool: Executor = ProcessPool(workers, initializer=pixel_worker.prepare)
    else:
        pool = pixel_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cpu")
    io_pool = ThreadPoolExecutor(max_workers=IO_THREADS, thread_name_prefix="blob-io")
    return Services(
        settings=settings,
        db=Database(settings.effective_database_url),
        blobs=build_blob_store(settings, io_pool),
        cpu_pool=pool,
        pixel_pool=pixel_pool,
        io_pool=io_pool,
        cpu_workers=workers,
        events=Dispatcher(settings),
    )


def build_blob_store(settings: Settings, io_pool: Executor | None = None) -> BlobStore:
    """The blob store the settings name: Azure Blob Storage, a shared file system (``file://``, flushed to
    disk before publishing), or the data dir's own directory."""
    if settings.blobs_in_azure:
        from .storage import azure_blobs

        container = azure_blobs.container_client(**settings.blob_client_arguments, asynchronous=True)
        return azure_blobs.AzureBlobStore(container, settings.data_dir / ".staging", io_pool)
    return FileBlobStore(settings.blob_dir, io_pool, durable=settings.blob_url is not None)


def register_operations() -> None:
    """Tells the operations runner how to run each type of operation (each feature imported after start-up)."""
    operations.register(operations.REINDEX, deferred(f"{__package__}.features.extended_query_tags:run_reindex_batch"))
    operations.register(operations.EXPORT, deferred(f"{__package__}.features.export:run_export_batch"))
    operations.register(operations.UPDATE, deferred(f"{__package__}.features.update:run_update_batch"))
