"""The filesystem blob store: staged uploads, versioned instance files, their reads and the orphan sweep."""

from __future__ import annotations

import itertools
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

STAGING = ".staging"
SET_ASIDE_PREFIX = ".set-aside-"


class BlobNotFound(LookupError):
    """The blob store holds no file for a key (the index names a file that is gone)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"No blob has the key {key!r}.")
        self.key = key


def instance_key(partition_key: int, study: str, series: str, sop: str, version: int) -> str:
    """The blob key of one version of an instance: ``{partition}/{study}/{series}/{sop}.{version}.dcm``.

    Versions of an instance share its series folder rather than a folder of their own: creating a
    folder per instance would double the file-system work of every store.
    """
    return f"{partition_key}/{study}/{series}/{sop}.{version}.dcm"


class FileBlobStore:
    """Instance files under one root directory; keys are relative POSIX paths."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.staging_dir = self.root / STAGING
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        # One random prefix per store and a counter: unique names without a random read per upload.
        self._staging_prefix = uuid.uuid4().hex
        self._staging_counter = itertools.count()

    def new_staging_path(self) -> Path:
        """A fresh path in the staging area for an upload still being received."""
        return self.staging_dir / f"{self._staging_prefix}-{next(self._staging_counter)}"

    def path(self, key: str) -> Path:
        """The file holding ``key``."""
        return self.root / key

    def read_cached(self, key: str) -> bytes | None:
        """The whole blob of ``key`` when the page cache holds all of it, without waiting for the disk; else None."""
        return read_if_cached(self.root / key)

    def size(self, key: str) -> int:
        """The size of the blob of ``key`` in bytes; raises BlobNotFound when there is none."""
        try:
            return os.stat(self.root / key).st_size
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def read(self, key: str) -> bytes:
        """The whole blob of ``key``, from the disk if need be (it blocks: call it in an I/O thread); raises
        BlobNotFound when there is none."""
        try:
            return (self.root / key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def open(self, key: str) -> BinaryIO:
        """The blob of ``key`` open for reading (its reads block: make them in an I/O thread); raises BlobNotFound
        when there is none."""
        try:
            return open(self.root / key, "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def publish(self, staged: Path, key: str) -> None:
        """Moves a staged file to ``key`` atomically, replacing nothing that readers could see."""
        target = self.root / key
        try:
            os.replace(staged, target)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        # The sweep judges age by mtime: a file just published must look new.
        os.utime(target)

    def delete(self, keys: Iterable[str]) -> None:
        """Removes the files of ``keys`` (missing ones are ignored) and the folders they leave empty."""
        for key in keys:
            target = self.root / key
            target.unlink(missing_ok=True)
            self._prune(target.parent)

    def set_aside_published(self) -> Path:
        """Moves every published file out of sight at once (renaming their folders); returns where they went.

        Staged uploads stay where they are. ``restore_set_aside`` puts the files back,
        ``remove_set_aside`` deletes them (slow for many files: call it in an I/O thread).
        """
        aside = self.root.parent / f"{SET_ASIDE_PREFIX}{uuid.uuid4().hex}"
        aside.mkdir()
        for entry in os.scandir(self.root):
            if entry.name != STAGING:
                os.rename(entry.path, aside / entry.name)
        return aside

    def restore_set_aside(self, aside: Path) -> None:
        """Puts back the files ``set_aside_published`` moved to ``aside``."""
        for entry in os.scandir(aside):
            os.rename(entry.path, self.root / entry.name)
        aside.rmdir()

    def remove_set_aside(self) -> None:
        """Deletes every folder of files set aside (by this store or one that stopped before deleting them)."""
        for entry in os.scandir(self.root.parent):
            if entry.name.startswith(SET_ASIDE_PREFIX) and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)

    def discard_staged(self, paths: Iterable[Path]) -> None:
        """Removes staged files that will not be published."""
        for staged in paths:
            staged.unlink(missing_ok=True)

    def keys_older_than(self, seconds: float) -> Iterator[str]:
        """Every published key whose file was last written more than ``seconds`` ago."""
        cutoff = time.time() - seconds
        for dirpath, dirnames, filenames in os.walk(self.root):
            if dirpath == str(self.root):
                dirnames[:] = [d for d in dirnames if d != STAGING]
            for name in filenames:
                full = os.path.join(dirpath, name)
                if os.stat(full).st_mtime < cutoff:
                    yield os.path.relpath(full, self.root).replace(os.sep, "/")

    def clear_staging_older_than(self, seconds: float) -> int:
        """Removes abandoned staged uploads; returns how many."""
        cutoff = time.time() - seconds
        removed = 0
        for staged in self.staging_dir.iterdir():
            if staged.stat().st_mtime < cutoff:
                staged.unlink(missing_ok=True)
                removed += 1
        return removed

    def _prune(self, folder: Path) -> None:
        while folder != self.root and folder.is_relative_to(self.root):
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


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
