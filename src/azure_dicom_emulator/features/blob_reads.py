"""Reading stored instance files through the blob store without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .services import Services

WHOLE_READ_BYTES = 8 * 1024 * 1024
"""Files up to this size are read in one piece; larger ones a chunk at a time."""
CHUNK_BYTES = 1024 * 1024


async def blob_bytes(services: Services, key: str, size: int) -> bytes:
    """The whole blob of ``key``: from the page cache right here when it holds all ``size`` bytes, else in an
    I/O thread."""
    cached = services.blobs.read_cached(key)
    if cached is not None and len(cached) == size:
        return cached
    return await asyncio.get_running_loop().run_in_executor(services.io_pool, services.blobs.read, key)


async def blob_chunks(services: Services, key: str) -> AsyncIterator[bytes]:
    """The blob of ``key`` a chunk at a time, each read in an I/O thread."""
    loop = asyncio.get_running_loop()
    with services.blobs.open(key) as blob:
        while chunk := await loop.run_in_executor(services.io_pool, blob.read, CHUNK_BYTES):
            yield chunk
