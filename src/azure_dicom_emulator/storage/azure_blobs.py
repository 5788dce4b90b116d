"""The Azure Blob Storage blob store: instance files as block blobs of one container (Azurite locally).

One adapter of the ``storage.blob_store.BlobStore`` port. Uploads are spooled to a local staging
area and uploaded to their final, version-unique key at publish, before the rows that name them
commit (Blob has no rename; nobody finds a key before its row commits). Frames are ranged GETs;
CPU workers get a temporary local copy. Every call has a timeout and few quick retries, so a store
that is down gives Azure's 503 at once rather than a hang.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .azure_blob_client import (
    BlobFailure,
    account_of_url,
    connection_string_fields,
    container_from_connection_string,
    container_from_url,
    development_credential,
    failure_of,
)
from .blob_store import BlobNotFound, BlobStoreUnavailable
from .blobs import StagingArea, discard

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

log = logging.getLogger(__name__)
DEFAULT_CONTAINER = "dicomwebcontainer"
UPLOADS_AT_ONCE = 16
"""Blobs the store uploads concurrently, all publishes together."""
WHOLE_UPLOAD_BYTES = 8 * 1024 * 1024
"""Staged files up to this size are read in an I/O thread and uploaded in one Put Blob; larger ones stream."""
DELETE_ATTEMPTS = 3
DOWNLOAD_CHUNK_BYTES = 4 * 1024 * 1024
DELETE_BACKOFF_SECONDS = 0.25


def client_options(timeout_seconds: float, asynchronous: bool) -> dict[str, Any]:
    """Timeouts and retries of every call: two quick retries (the library's own default waits 15 s and more),
    so a store that is down is reported within seconds. Its per-request log lines are left out."""
    if asynchronous:
        from azure.storage.blob.aio import LinearRetry
    else:
        from azure.storage.blob import LinearRetry
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    return {
        "connection_timeout": timeout_seconds,
        "read_timeout": timeout_seconds,
        "retry_policy": LinearRetry(backoff=0.3, random_jitter_range=0.1, retry_total=2),
        # Downloads a few MB at a time (the library's first GET takes 32 MB): a big instance streams through.
        "max_single_get_size": DOWNLOAD_CHUNK_BYTES,
        "max_chunk_get_size": DOWNLOAD_CHUNK_BYTES,
    }


def container_client(
    url: str | None,
    connection_string: str | None,
    container_name: str,
    *,
    api_version: str,
    asynchronous: bool,
    timeout_seconds: float,
) -> Any:
    """A client of the configured container: the container URL with the connection string's key (Azurite's
    development key for its account, or the URL's SAS), else the connection string and ``container_name``.
    ValueError when the connection string is malformed."""
    options = {
        "api_version": api_version,
        "asynchronous": asynchronous,
        **client_options(timeout_seconds, asynchronous),
    }
    if url is None:
        return container_from_connection_string(connection_string or "", container_name, **options)
    return container_from_url(url, _credential(url, connection_string), **options)


def _credential(url: str, connection_string: str | None) -> dict[str, str] | None:
    fields = connection_string_fields(connection_string or "")
    if fields.get("USEDEVELOPMENTSTORAGE", "").lower() == "true":
        return development_credential()
    if "ACCOUNTKEY" in fields:
        return {"account_name": fields.get("ACCOUNTNAME", account_of_url(url)), "account_key": fields["ACCOUNTKEY"]}
    if account_of_url(url) == development_credential()["account_name"]:
        return development_credential()
    return None  # a SAS in the URL, or a public container


MALFORMED, UNREACHABLE = "malformed", "unreachable"


def prepare_store(arguments: dict[str, Any], staging_dir: Path) -> tuple[str, str] | None:
    """Creates the container of ``container_client(**arguments)`` if need be (a blocking call, for a process of
    its own); None when the store is ready, else (MALFORMED or UNREACHABLE, the reason in one line)."""

    async def prepare() -> None:
        store = AzureBlobStore(container_client(**arguments, asynchronous=True), staging_dir)
        try:
            await store.prepare()
        finally:
            await store.close()

    try:
        asyncio.run(prepare())
    except ValueError as exc:
        return MALFORMED, _first_line(exc)
    except BlobStoreUnavailable as exc:
        return UNREACHABLE, _first_line(exc.__cause__ or exc)
    return None


class AzureBlobStore:
    """Instance files as the blobs of one container; staging in a local directory of this host."""

    name = "DicomBlobHealthCheck"

    def __init__(self, container: ContainerClient, staging_dir: Path, io_pool: Executor | None = None) -> None:
        self.container = container
        self.staging = StagingArea(staging_dir)
        self.io_pool = io_pool
        self.uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)
        """Shared by every publish: each STOW part publishes on its own, and their file reads and uploads
        in flight must stay bounded however many parts are waiting."""

    def new_staging_path(self) -> Path:
        """A fresh local path for a spool."""
        return self.staging.new_path()

    def discard_staged(self, paths: Iterable[Path]) -> None:
        """Removes local staged files."""
        discard(paths)

    async def publish(self, staged: Sequence[tuple[Path, str]]) -> None:
        """Uploads each staged file to its key, at most UPLOADS_AT_ONCE of the store's uploads at a time; if one
        fails, removes them all."""

        async def upload(path: Path, key: str) -> None:
            async with self.uploads:
                await self._upload(path, key)

        try:
            async with asyncio.TaskGroup() as group:
                for path, key in staged:
                    group.create_task(upload(path, key))
        except BaseException as exc:
            await self.delete(key for _, key in staged)
            if isinstance(exc, BaseExceptionGroup):
                raise exc.exceptions[0] from None  # the first upload that failed says why
            raise

    async def _upload(self, path: Path, key: str) -> None:
        size = os.stat(path).st_size
        if size <= WHOLE_UPLOAD_BYTES:
            data = await asyncio.get_running_loop().run_in_executor(self.io_pool, path.read_bytes)
            async with self._call(""):
                await self.container.upload_blob(key, data, length=size, overwrite=True)
            return
        with open(path, "rb") as stream:
            async with self._call(""):
                await self.container.upload_blob(key, stream, length=size, overwrite=True, max_concurrency=4)

    async def read(self, key: str, size: int) -> bytes:
        """The whole blob, in one GET (more for a blob above the library's first-chunk size)."""
        async with self._call(key):
            downloader = await self.container.download_blob(key)
            return await downloader.readall()

    async def read_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """Each range in a ranged GET of its own, all at once."""

        async def one(offset: int, length: int) -> bytes:
            async with self._call(key):
                downloader = await self.container.download_blob(key, offset=offset, length=length)
                return await downloader.readall()

        return list(await asyncio.gather(*(one(offset, length) for offset, length in ranges)))

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob in the chunks the library downloads."""
        async with self._call(key):
            downloader = await self.container.download_blob(key)
            async for chunk in downloader.chunks():
                yield chunk

    async def size(self, key: str) -> int:
        """The blob's size, from its properties."""
        async with self._call(key):
            properties = await self.container.get_blob_client(key).get_blob_properties()
            return properties.size

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        """The blob downloaded to a temporary file of the staging area, removed when the context ends."""
        path = self.staging.directory / f"copy-{uuid.uuid4().hex}"
        loop = asyncio.get_running_loop()
        try:
            with open(path, "wb") as copy:  # a chunk at a time: a copy of any size holds no more than a chunk
                async for chunk in self.chunks(key):
                    await loop.run_in_executor(self.io_pool, copy.write, chunk)
            yield path
        finally:
            path.unlink(missing_ok=True)

    async def delete(self, keys: Iterable[str]) -> None:
        """Deletes each blob, retrying a store that fails briefly; blobs still there are left to the orphan sweep."""
        await asyncio.gather(*(self._delete_one(key) for key in set(keys)))

    async def _delete_one(self, key: str) -> None:
        for attempt in range(DELETE_ATTEMPTS):
            try:
                await self.container.delete_blob(key)
                return
            except Exception as exc:
                failure = failure_of(exc)
                if failure is BlobFailure.NOT_FOUND:
                    return
                if failure is None or attempt == DELETE_ATTEMPTS - 1:
                    log.warning("could not delete blob %s (the orphan sweep will): %s", key, _first_line(exc))
                    return
            await asyncio.sleep(DELETE_BACKOFF_SECONDS * 2**attempt)

    async def keys_older_than(self, seconds: float) -> set[str]:
        """Every blob whose Last-Modified is more than ``seconds`` ago (a blob being uploaded has none yet)."""
        cutoff = datetime.now(UTC) - timedelta(seconds=seconds)
        async with self._call(""):
            return {blob.name async for blob in self.container.list_blobs() if blob.last_modified < cutoff}

    async def clear_staging_older_than(self, seconds: float) -> int:
        """Removes this host's abandoned local staged files; returns how many."""
        return self.staging.clear_older_than(seconds)

    async def set_aside_published(self) -> None:
        """Deletes every blob now, inside the reset's transaction: Blob has no rename to hide them with.

        A reset's version numbers start again at 1, so a blob left for later could share its key with
        one stored after the reset; deleting before the commit rules that out.
        """
        async with self._call(""):
            names = [blob.name async for blob in self.container.list_blobs()]
        await self.delete(names)

    async def restore_set_aside(self, aside: object) -> None:
        """Nothing can come back: the blobs were deleted, and the rows the failed reset kept name missing files."""
        log.warning("a reset failed after deleting the blobs; the index names files that are gone")

    def remove_set_aside(self) -> None:
        """Nothing is left to remove: the reset deleted the blobs already."""

    async def prepare(self) -> None:
        """Creates the container when it does not exist yet; BlobStoreUnavailable when the store cannot be reached
        or refuses."""
        from azure.core.exceptions import ResourceExistsError

        try:
            await self.container.create_container()
        except ResourceExistsError:
            pass
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def check(self) -> None:
        """Reads the container's properties; BlobStoreUnavailable when the store does not answer or refuses."""
        try:
            await self.container.get_container_properties()
        except Exception as exc:
            raise _unavailable(exc) from exc

    async def close(self) -> None:
        """Closes the client's connections."""
        await self.container.close()

    @asynccontextmanager
    async def _call(self, key: str) -> AsyncIterator[None]:
        """Turns the library's failures into BlobNotFound and BlobStoreUnavailable."""
        try:
            yield
        except Exception as exc:
            failure = failure_of(exc)
            if failure is BlobFailure.NOT_FOUND and key:
                raise BlobNotFound(key) from None
            if failure is None:
                raise
            raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> BlobStoreUnavailable:
    return BlobStoreUnavailable(f"the blob store failed: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
