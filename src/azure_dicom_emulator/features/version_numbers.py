"""Version numbers and keys of new instance files, reserved before the rows that name them (DESIGN §4).

A new version's number is reserved in a short transaction of its own, so its file goes to its
version-unique key while the request is still being read, and the transaction that writes the rows
holds no lock while files upload. Numbers are never handed out twice, resets included, so a key is
never reused: removing the file of a version whose rows did not commit never touches another's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from ..storage import index
from ..storage.blob_store import instance_key
from ..storage.index import InstanceId
from .services import Services

LARGEST_BLOCK = 256
"""The most numbers one request reserves at a time."""


class VersionNumbers:
    """Version numbers for the instances of one request, reserved as needed in blocks that double in size:
    a request of one instance reserves one number, a request of a thousand reserves them in eleven transactions."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.free: list[int] = []
        self.block = 1
        self.reserving = asyncio.Lock()

    async def take(self) -> int:
        """A version number nobody else has or will have."""
        async with self.reserving:
            if not self.free:
                self.free = list(reversed(await reserve_versions(self.services, self.block)))
                self.block = min(self.block * 2, LARGEST_BLOCK)
            return self.free.pop()


async def reserve_versions(services: Services, count: int) -> list[int]:
    """``count`` new version numbers, reserved in a transaction of their own."""
    async with services.db.write() as conn:
        return await index.allocate_versions(conn, count)


async def publish_new_files(
    services: Services, partition_key: int, files: Sequence[tuple[Path, InstanceId]]
) -> list[tuple[int, str]]:
    """Puts each staged file under the key of a newly reserved version of its instance, all or none;
    returns each one's version number and key."""
    if not files:
        return []
    numbers = await reserve_versions(services, len(files))
    keys = [
        instance_key(partition_key, *instance_id, number)
        for (_, instance_id), number in zip(files, numbers, strict=True)
    ]
    await services.blobs.publish([(path, key) for (path, _), key in zip(files, keys, strict=True)])
    return list(zip(numbers, keys, strict=True))
