"""An instance's stored pixel data as the frames and rendered routes see it: its file and frame index."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...dicom.frames import FrameIndex, load_index
from ...errors import FRAME_NOT_FOUND, INSTANCE_NOT_FOUND, NotFound
from ...storage import index
from ..scope import Scope
from ..services import Services
from ..uids import normalized
from . import pixel_jobs
from .stored_files import require_stored


@dataclass
class StoredPixels:
    """Where an instance's file is, its size and transfer syntax, and where its frames lie."""

    path: Path
    size: int
    transfer_syntax_uid: str
    frame_index: FrameIndex
    frame_index_json: str

    def require_frames(self, numbers: Sequence[int]) -> None:
        """Raises 404 "The specified frame cannot be found." unless every 1-based number is a frame."""
        if any(number > self.frame_index.count for number in numbers):
            raise NotFound(FRAME_NOT_FOUND)


async def load(services: Services, scope: Scope, study_uid: str, series_uid: str, sop_uid: str) -> StoredPixels:
    """The stored pixels of one instance; 404 when the instance, or its file, does not exist.

    A row stored before frames were indexed has its index computed from the file, in the CPU pool.
    """
    row = await index.instance_pixels(
        services.db, scope.partition_key, normalized(study_uid), normalized(series_uid), normalized(sop_uid)
    )
    if row is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    require_stored(services, row.blob_key, NotFound(INSTANCE_NOT_FOUND))
    path = services.blobs.path(row.blob_key)
    index_json = row.frame_index
    if index_json is None:
        loop = asyncio.get_running_loop()
        index_json = await loop.run_in_executor(services.cpu_pool, pixel_jobs.index_file, str(path))
    return StoredPixels(path, row.size, row.transfer_syntax_uid, load_index(index_json), index_json)
