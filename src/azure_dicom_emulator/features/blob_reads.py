"""Reading stored instance files through the blob store: whole when small, a chunk at a time when large."""

from __future__ import annotations

from collections.abc import AsyncIterator

from .services import Services

WHOLE_READ_BYTES = 8 * 1024 * 1024
"""Files up to this size are read in one piece; larger ones a chunk at a time."""


async def blob_bytes(services: Services, key: str, size: int) -> bytes:
    """The whole blob of ``key`` (``size`` bytes), as the blob store reads it fastest."""
    return await services.blobs.read(key, size)


def blob_chunks(services: Services, key: str) -> AsyncIterator[bytes]:
    """The blob of ``key`` a chunk at a time."""
    return services.blobs.chunks(key)
