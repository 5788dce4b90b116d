"""Writing one received part to its staging file, in order, from the I/O threads."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import Executor
from pathlib import Path

from ...dicom.part10 import HEAD_LENGTH, stored_head

SPOOL_FLUSH_BYTES = 4 * 1024 * 1024
IOV_MAX = 1024


class Spool:
    """One part being written to its staging file, in order, by the I/O threads.

    Its head is written as stored (``dicom.part10.stored_head``), so no file is written twice.
    Even creating the file happens in an I/O thread: on some disks a create costs as much as
    writing half a megabyte, and the event loop has better things to do.
    """

    def __init__(self, io_pool: Executor, path: Path) -> None:
        self.loop = asyncio.get_running_loop()
        self.pool = io_pool
        self.path = path
        self.fd: int | None = None
        self.size = 0
        self.pending: list[bytes | memoryview] = []
        self.pending_size = 0
        self.writing: asyncio.Future | None = None
        self.head: bytes | None = b""  # the first bytes while fewer than HEAD_LENGTH arrived; then None

    async def add(self, chunk: bytes) -> None:
        """Appends the part's next bytes, waiting only when SPOOL_FLUSH_BYTES are pending behind a write."""
        if self.head is not None:
            # Only the head's bytes are gathered and rewritten; the rest of the chunk is kept uncopied.
            wanted = HEAD_LENGTH - len(self.head)
            self.head += chunk[:wanted]
            if len(self.head) < HEAD_LENGTH:
                return
            self._keep(stored_head(self.head))
            self.head = None
            chunk = memoryview(chunk)[wanted:]
        self._keep(chunk)
        if self.pending_size >= SPOOL_FLUSH_BYTES:
            await self._flush()

    def _keep(self, chunk: bytes | memoryview) -> None:
        self.pending.append(chunk)
        self.pending_size += len(chunk)
        self.size += len(chunk)

    async def _flush(self) -> None:
        if self.writing is not None:
            # Shielded: a cancelled request must not lose track of a write that an I/O thread still makes.
            await asyncio.shield(self.writing)
        self.writing = self.loop.run_in_executor(self.pool, self._append, self.pending)
        self.pending, self.pending_size = [], 0

    def _append(self, chunks: list[bytes | memoryview]) -> None:
        if self.fd is None:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        _write_all(self.fd, chunks)

    async def close(self) -> None:
        """Writes what is pending and closes the file: the whole part is then on disk, ``size`` bytes long.

        When it fails or is cancelled, `abandon` must follow: an I/O thread may still be writing.
        """
        if self.head:  # a part shorter than HEAD_LENGTH
            self._keep(stored_head(self.head))
            self.head = None
        await self._flush()
        await asyncio.shield(self.writing)
        self._close_fd()

    async def abandon(self) -> None:
        """Waits until no I/O thread writes the file any more, and closes it; removing it is the caller's part."""
        if self.writing is not None:
            await asyncio.gather(self.writing, return_exceptions=True)
        self._close_fd()

    def _close_fd(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _write_all(fd: int, chunks: list[bytes | memoryview]) -> None:
    """Writes every chunk to ``fd``, IOV_MAX at a time, resuming after short writes."""
    view_chunks = [memoryview(chunk) for chunk in chunks if chunk]
    while view_chunks:
        written = os.writev(fd, view_chunks[:IOV_MAX])
        while written and view_chunks:
            first = view_chunks[0]
            if written >= len(first):
                written -= len(first)
                view_chunks.pop(0)
            else:
                view_chunks[0] = first[written:]
                written = 0
