"""The filesystem blob store: staged uploads, versioned instance files, their reads and the orphan sweep.

One adapter of the ``storage.blob_store.BlobStore`` port. Its devices stay inside it: whole reads
from the page cache on the event loop (``preadv`` with ``RWF_NOWAIT``), small ranges read with
``pread`` right there, and its own files handed to CPU workers as their local copies.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType

from .blob_store import BlobNotFound

STAGING = ".staging"
SET_ASIDE_PREFIX = ".set-aside-"
CHUNK_BYTES = 1024 * 1024
INLINE_READ_BYTES = 1024 * 1024
"""Ranges up to this many bytes in all are read right on the event loop: a page-cache read costs less
than a thread hop."""


class StagingArea:
    """A local directory of spools: uploads being received and files being rewritten, before they are published."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # One random prefix per store and a counter: unique names without a random read per upload.
        self._prefix = uuid.uuid4().hex
        self._counter = itertools.count()

    def new_path(self) -> Path:
        """A fresh path in the staging area."""
        return self.directory / f"{self._prefix}-{next(self._counter)}"

    def clear_older_than(self, seconds: float) -> int:
        """Removes staged files last written more than ``seconds`` ago; returns how many."""
        cutoff = time.time() - seconds
        removed = 0
        for staged in self.directory.iterdir():
            try:
                if staged.stat().st_mtime < cutoff:
                    staged.unlink(missing_ok=True)
                    removed += 1
            except FileNotFoundError:
                continue  # published or removed meanwhile
        return removed


def discard(paths: Iterable[Path]) -> None:
    """Removes staged files (missing ones are ignored)."""
    for staged in paths:
        staged.unlink(missing_ok=True)


class FileBlobStore:
    """Instance files under one root directory; keys are relative POSIX paths.

    ``durable`` (a shared file system) flushes every file to its disk before it is published, as
    a file another host reads must be whole.
    """

    name = "DicomFileStoreHealthCheck"

    def __init__(self, root: Path, io_pool: Executor | None = None, durable: bool = False) -> None:
        self.root = root.resolve()
        self.staging = StagingArea(self.root / STAGING)  # in the same file system: publishing is a rename
        self.io_pool = io_pool
        self.durable = durable

    def new_staging_path(self) -> Path:
        """A fresh path in the staging area for an upload still being received."""
        return self.staging.new_path()

    def discard_staged(self, paths: Iterable[Path]) -> None:
        """Removes staged files that will not be published."""
        discard(paths)

    async def publish(self, staged: Sequence[tuple[Path, str]]) -> None:
        """Moves each staged file to its key atomically, replacing nothing readers could see; all or none."""
        if self.durable:
            await asyncio.gather(*(self._in_thread(_flush_to_disk, path) for path, _ in staged))
        published = []
        try:
            for path, key in staged:
                self._move(path, key)
                published.append(key)
        except BaseException:
            self._delete(published)
            raise

    def _move(self, staged: Path, key: str) -> None:
        target = self.root / key
        try:
            os.replace(staged, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        # The sweep judges age by mtime: a file just published must look new.
        os.utime(target)

    async def read(self, key: str, size: int) -> bytes:
        """The whole blob: from the page cache right here when it holds all ``size`` bytes, else in an I/O thread."""
        cached = read_if_cached(self.root / key)
        if cached is not None and len(cached) == size:
            return cached
        return await self._in_thread(self.read_file, key)

    def read_file(self, key: str) -> bytes:
        """The whole blob of ``key``, from the disk if need be (it blocks); BlobNotFound when there is none."""
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def read_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        """The bytes of each range: read right here when small in all, else in an I/O thread."""
        if sum(length for _, length in ranges) <= INLINE_READ_BYTES:
            return self._read_ranges(key, ranges)
        return await self._in_thread(self._read_ranges, key, ranges)

    def _read_ranges(self, key: str, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
        try:
            with RangeReader(self.root / key) as read:
                return [read(offset, length) for offset, length in ranges]
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    async def chunks(self, key: str) -> AsyncIterator[bytes]:
        """The blob a chunk at a time, each read in an I/O thread."""
        try:
            blob = open(self.root / key, "rb")  # noqa: SIM115 - closed below, across awaits
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        with blob:
            while chunk := await self._in_thread(blob.read, CHUNK_BYTES):
                yield chunk

    async def size(self, key: str) -> int:
        """The size of the blob of ``key`` in bytes; raises BlobNotFound when there is none."""
        try:
            return os.stat(self.root / key).st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    @asynccontextmanager
    async def local_copy(self, key: str) -> AsyncIterator[Path]:
        """The store's own file of ``key``: it is local already, and no one writes a published file."""
        path = self.root / key
        if not path.exists():
            raise BlobNotFound(key)
        yield path

    async def delete(self, keys: Iterable[str]) -> None:
        """Removes the files of ``keys`` (missing ones are ignored) and the folders they leave empty."""
        self._delete(keys)

    def _delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            target = self.root / key
            target.unlink(missing_ok=True)
            self._prune(target.parent)

    async def keys_older_than(self, seconds: float) -> set[str]:
        """Every published key whose file was last written more than ``seconds`` ago."""
        return await self._in_thread(lambda: set(self._keys_older_than(seconds)))

    def _keys_older_than(self, seconds: float) -> Iterator[str]:
        cutoff = time.time() - seconds
        for dirpath, dirnames, filenames in os.walk(self.root):
            if dirpath == str(self.root):
                dirnames[:] = [d for d in dirnames if d != STAGING]
            for name in filenames:
                full = os.path.join(dirpath, name)
                try:
                    written = os.stat(full).st_mtime
                except FileNotFoundError:
                    continue  # deleted meanwhile (by another host, say)
                if written < cutoff:
                    yield os.path.relpath(full, self.root).replace(os.sep, "/")

    async def clear_staging_older_than(self, seconds: float) -> int:
        """Removes abandoned staged uploads; returns how many."""
        return self.staging.clear_older_than(seconds)

    async def set_aside_published(self) -> Path:
        """Moves every published file out of sight at once (renaming their folders); returns where they went.

        Staged uploads stay where they are. ``restore_set_aside`` puts the files back,
        ``remove_set_aside`` deletes them.
        """
        aside = self.root.parent / f"{SET_ASIDE_PREFIX}{uuid.uuid4().hex}"
        aside.mkdir()
        for entry in os.scandir(self.root):
            if entry.name != STAGING:
                os.rename(entry.path, aside / entry.name)
        return aside

    async def restore_set_aside(self, aside: Path) -> None:
        """Puts back the files ``set_aside_published`` moved to ``aside``."""
        for entry in os.scandir(aside):
            os.rename(entry.path, self.root / entry.name)
        aside.rmdir()

    def remove_set_aside(self) -> None:
        """Deletes every folder of files set aside (by this store or one that stopped before deleting them)."""
        for entry in os.scandir(self.root.parent):
            if entry.name.startswith(SET_ASIDE_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)

    async def prepare(self) -> None:
        """Nothing to prepare: the directory was made with the store."""

    async def check(self) -> None:
        """Nothing to reach: a directory answers as long as the process runs."""

    async def close(self) -> None:
        """Nothing to release."""

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def _in_thread(self, function, *args):
        return asyncio.get_running_loop().run_in_executor(self.io_pool, function, *args)


def _flush_to_disk(path: Path) -> None:
    """Makes the file at ``path`` durable before it is renamed into sight."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RangeReader:
    """Reads byte ranges of one file: ``with RangeReader(path) as read: read(offset, length)``."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> RangeReader:
        self.fd = os.open(self.path, os.O_RDONLY)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        os.close(self.fd)

    def __call__(self, offset: int, length: int) -> bytes:
        """The ``length`` bytes at ``offset``; raises ValueError when the file ends before them."""
        chunks = []
        remaining = length
        while remaining:
            chunk = os.pread(self.fd, remaining, offset)
            if not chunk:
                raise ValueError(f"{self.path} ends before byte {offset + remaining}.")
            chunks.append(chunk)
            remaining -= len(chunk)
            offset += len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_if_cached(path: Path | str) -> bytes | None:
    """The whole file when the page cache holds all of it, read without waiting for the disk; else None.

    Cheaper than a thread hop for a file that was just written or read, and never blocks on a
    cold disk: the caller reads in an I/O thread when this answers None.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        buffer = bytearray(size)
        view = memoryview(buffer)
        done = 0
        while done < size:
            read = os.preadv(fd, [view[done:]], done, os.RWF_NOWAIT)
            if read <= 0:
                return None
            done += read
        return bytes(buffer)
    except (BlockingIOError, OSError):
        return None
    finally:
        os.close(fd)
