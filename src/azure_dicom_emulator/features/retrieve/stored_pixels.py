"""An instance's stored pixel data as the frames and rendered routes see it: its blob key and frame index."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ...dicom.frames import FrameIndex, load_index, read_frame
from ...errors import FRAME_NOT_FOUND, INSTANCE_NOT_FOUND, NotFound
from ...storage import index
from ...storage.blob_store import BlobNotFound
from ..scope import Scope
from ..services import Services
from ..uids import normalized
from . import pixel_jobs
from .stored_files import missing


@dataclass
class StoredPixels:
    """Which blob holds an instance, its size and transfer syntax, and where its frames lie."""

    blob_key: str
    size: int
    transfer_syntax_uid: str
    frame_index: FrameIndex
    frame_index_json: str

    def require_frames(self, numbers: Sequence[int]) -> None:
        """Raises 404 "The specified frame cannot be found." unless every 1-based number is a frame."""
        if any(number > self.frame_index.count for number in numbers):
            raise NotFound(FRAME_NOT_FOUND)


async def load(services: Services, scope: Scope, study_uid: str, series_uid: str, sop_uid: str) -> StoredPixels:
    """The stored pixels of one instance; 404 when the instance does not exist (or, read later, its file).

    A row stored before frames were indexed has its index computed from the file, in the CPU pool.
    """
    row = await index.instance_pixels(
        services.db, scope.partition_key, normalized(study_uid), normalized(series_uid), normalized(sop_uid)
    )
    if row is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    index_json = row.frame_index
    if index_json is None:
        index_json = await in_worker(services, services.cpu_pool, row.blob_key, pixel_jobs.index_file)
    return StoredPixels(row.blob_key, row.size, row.transfer_syntax_uid, load_index(index_json), index_json)


async def stored_frames(services: Services, stored: StoredPixels, numbers: list[int]) -> list[bytes]:
    """The frames as stored: ranged reads of the blob, or, for a deflated file, inflated in the CPU pool."""
    if stored.frame_index.inflated:
        arguments = (stored.frame_index_json, numbers)
        return await in_worker(services, services.cpu_pool, stored.blob_key, pixel_jobs.stored_frames, *arguments)
    ranges = sorted({span for number in numbers for span in stored.frame_index.ranges(number)})
    try:
        pieces = dict(zip(ranges, await services.blobs.read_ranges(stored.blob_key, ranges), strict=True))
    except BlobNotFound as exc:
        raise missing(exc, NotFound(INSTANCE_NOT_FOUND)) from None
    return [read_frame(stored.frame_index, number, lambda *span: pieces[span]) for number in numbers]


async def in_worker(services: Services, pool, key: str, job, *arguments):
    """``job(path, *arguments)`` in ``pool`` on a local copy of the blob of ``key``; 404 when it is gone."""
    try:
        async with services.blobs.local_copy(key) as path:
            return await asyncio.get_running_loop().run_in_executor(pool, job, str(path), *arguments)
    except BlobNotFound as exc:
        raise missing(exc, NotFound(INSTANCE_NOT_FOUND)) from None
