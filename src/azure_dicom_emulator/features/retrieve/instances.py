"""WADO-RS retrieval of studies, series and instances (spec §4.1-4.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ...dicom.media_types import negotiate_resource
from ...dicom.pixel_errors import TranscodeError
from ...errors import INSTANCE_NOT_FOUND, NotAcceptable, NotFound, resource_not_found
from ...storage import index
from ...storage.blob_store import BlobNotFound
from ..blob_reads import WHOLE_READ_BYTES, blob_bytes, blob_chunks
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid
from . import pixel_jobs
from .negotiation import negotiated
from .stored_files import missing, require_stored

ANY_TRANSFER_SYNTAX = "*"
MAX_TRANSCODE_BYTES = 104857600
MULTIPLE_INSTANCES = (
    "Accept transfer syntax '{ts}' is not supported when multiple instances are matched. Matching instances "
    "can be retrieved with their original transfer syntax by specifying 'transfer-syntax=*' in the Accept header."
)
TOO_LARGE = (
    "Requested DICOM instance size is above the supported limit of {limit}. The entire instance can be "
    "retrieved with the original transfer syntax by specifying 'transfer-syntax=*' in the Accept header."
)
TRANSCODE_FAILED = "The specified transcoding is not supported."


@dataclass
class InstancePayload:
    """One instance to send: its stored blob, or bytes transcoded from it."""

    transfer_syntax_uid: str
    size: int
    blob_key: str | None = None
    data: bytes | None = None

    @property
    def streamed(self) -> bool:
        """Whether the payload is sent as a stream (above 8 MiB) rather than as one body."""
        return self.size > WHOLE_READ_BYTES


@dataclass
class RetrieveResult:
    """What to send back: the instances, and whether as one part or multipart/related."""

    multipart: bool
    instances: list[InstancePayload]


async def retrieve(
    services: Services,
    scope: Scope,
    accept: list[str],
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    original: bool = False,
) -> RetrieveResult:
    """The instances of a study, series or instance in the negotiated transfer syntax; with ``original``,
    the original version of each instance that an update changed (spec §10)."""
    require_valid(study_uid, series_uid, sop_uid)
    level = "instance" if sop_uid else "series" if series_uid else "study"
    media = negotiated(negotiate_resource, accept, level)
    async with services.db.read() as conn:
        rows = await index.instance_files(
            conn, scope.partition_key, normalized(study_uid), normalized(series_uid), normalized(sop_uid), original
        )
    if not rows:
        raise resource_not_found(series_uid, sop_uid)
    target = media.transfer_syntax
    if target != ANY_TRANSFER_SYNTAX and len(rows) > 1:
        raise NotAcceptable(MULTIPLE_INSTANCES.format(ts=target))
    gone = resource_not_found(series_uid, sop_uid)
    for row in rows:  # before any byte is sent: a response under way can no longer become a 404
        await require_stored(services, row.blob_key, gone)
    payloads = []
    for row in rows:
        if target in (ANY_TRANSFER_SYNTAX, row.transfer_syntax_uid):
            payloads.append(InstancePayload(row.transfer_syntax_uid, row.size, blob_key=row.blob_key))
        else:
            payloads.append(await _transcode(services, row.blob_key, row.size, target))
    return RetrieveResult(media.multipart, payloads)


async def payload_bytes(services: Services, payload: InstancePayload) -> bytes:
    """All of the payload's bytes: from the page cache right here when it holds them, else in an I/O thread.

    404 "The specified instance cannot be found." when its file went since `retrieve` saw it.
    """
    if payload.data is not None:
        return payload.data
    try:
        return await blob_bytes(services, payload.blob_key, payload.size)
    except BlobNotFound as exc:
        raise missing(exc, NotFound(INSTANCE_NOT_FOUND)) from None


async def payload_chunks(services: Services, payload: InstancePayload) -> AsyncIterator[bytes]:
    """The payload's bytes: in one piece when small or transcoded, else its blob a chunk at a time."""
    if payload.data is not None or not payload.streamed:
        yield await payload_bytes(services, payload)
        return
    async for chunk in blob_chunks(services, payload.blob_key):
        yield chunk


async def _transcode(services: Services, key: str, size: int, target: str) -> InstancePayload:
    require_transcodable_size(size)
    loop = asyncio.get_running_loop()
    try:
        async with services.blobs.local_copy(key) as path:
            data = await loop.run_in_executor(services.pixel_pool, pixel_jobs.transcode_file, str(path), target)
    except BlobNotFound as exc:
        raise missing(exc, NotFound(INSTANCE_NOT_FOUND)) from None
    except TranscodeError as exc:
        raise NotAcceptable(TRANSCODE_FAILED) from exc
    return InstancePayload(target, len(data), data=data)


def require_transcodable_size(size: int) -> None:
    """Raises Azure's 406 for a file too large to transcode in memory."""
    if size > MAX_TRANSCODE_BYTES:
        raise NotAcceptable(TOO_LARGE.format(limit=MAX_TRANSCODE_BYTES))
