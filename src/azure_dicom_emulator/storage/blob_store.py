"""The blob-store port: what features ask of the store of instance files, whichever adapter holds them.

Two adapters implement it: ``storage.blobs.FileBlobStore`` (a directory, the data dir's own or a
shared file system) and ``storage.azure_blobs.AzureBlobStore`` (an Azure Blob Storage container).
Features see keys, bytes, byte ranges and local copies; never a path into the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol


class BlobNotFound(LookupError):
    """The blob store holds no blob for a key (the index names a file that is gone)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No blob has the key {key!r}.")
        self.key = key


class BlobStoreUnavailable(Exception):
    """The blob store did not answer, or failed, in time: a request meeting it gets Azure's 503."""


def instance_key(partition_key: int, study: str, series: str, sop: str, version: int) -> str:
    """The blob key of one version of an instance: ``{partition}/{study}/{series}/{sop}.{version}.dcm``.

    Versions of an instance share its series folder rather than a folder of their own: creating a
    folder per instance would double the file-system work of every store.
    """
    return f"{partition_key}/{study}/{series}/{sop}.{version}.dcm"


class BlobStore(Protocol):
    """Instance files by key: staged locally, published under version-unique keys, read whole, by range or in
    chunks, deleted, listed by age. Every method that reaches the store may raise BlobStoreUnavailable."""

    name: str
    """What the health check calls the store."""

    def new_staging_path(self) -> Path:
        """A fresh local path for a spool: an upload being received, or a file being rewritten."""

    def discard_staged(self, paths: Iterable[Path]) -> None:
        """Removes staged files that will not be (or were already) published."""

    async def publish(self, staged: Sequence[tuple[Path, str]]) -> None:
        """Puts each staged file under its key, all or none: if one fails, those published before it are removed.

        Called before the rows naming the keys commit; nobody finds a key before its row commits.
        """

    async def read(self, key: str, size: int) -> bytes:
        """The whole blob of ``key`` (``size`` bytes, as the index says); BlobNotFound when there is none."""

    async def read_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each ``(offset, length)`` range of the blob of ``key``; BlobNotFound when there is none."""

    def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob of ``key`` a chunk at a time; BlobNotFound (at the first chunk) when there is none."""

    async def size(self, key: str) -> int:
        """The size of the blob of ``key`` in bytes; BlobNotFound when there is none."""

    def local_copy(self, key: str) -> AbstractAsyncContextManager[Path]:
        """A local file holding the blob of ``key``, for a CPU worker to read while the context lasts; the caller
        never writes it. BlobNotFound when there is none."""

    async def delete(self, keys: Iterable[str]) -> None:
        """Removes the blobs of ``keys`` (missing ones are ignored), trying again when the store fails briefly."""

    async def keys_older_than(self, seconds: float) -> set[str]:
        """Every published key whose blob was last written more than ``seconds`` ago."""

    async def clear_staging_older_than(self, seconds: float) -> int:
        """Removes abandoned staged files older than ``seconds``; returns how many."""

    async def set_aside_published(self) -> object:
        """Takes every published blob out of sight for a reset, in its transaction; returns what
        ``restore_set_aside`` needs should the transaction fail."""

    async def restore_set_aside(self, aside: object) -> None:
        """Brings back what ``set_aside_published`` took out of sight, as far as the store can."""

    def remove_set_aside(self) -> None:
        """Deletes for good what resets set aside (slow: it runs in an I/O thread)."""

    async def prepare(self) -> None:
        """Makes the store ready for use (an Azure container that does not exist yet is created)."""

    async def check(self) -> None:
        """Raises BlobStoreUnavailable unless the store answers now."""

    async def close(self) -> None:
        """Releases the store's connections."""
