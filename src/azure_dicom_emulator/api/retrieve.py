"""WADO-RS over HTTP: study, series and instance files, and their metadata (spec §4)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..dicom.multipart import closing_delimiter, new_boundary, part_header
from ..features.retrieve import instances as retrieve_feature
from ..features.retrieve import metadata as metadata_feature
from ..features.retrieve.instances import InstancePayload
from ..features.services import Services
from .context import scope_of, services_of
from .http import DICOM, DICOM_JSON, require_dicom_json

ORIGINAL_VERSION_HEADER = "msdicom-request-original"


def _uids(request: Request) -> tuple[str, str | None, str | None]:
    params = request.path_params
    return params["study"], params.get("series"), params.get("instance")


def _original_requested(request: Request) -> bool:
    """Whether the request asks for the original versions of updated instances (``true`` in any case)."""
    return request.headers.get(ORIGINAL_VERSION_HEADER, "").strip().lower() == "true"


async def retrieve(request: Request) -> Response:
    """The study, series or instance as Part 10 files, single part or multipart/related."""
    services = services_of(request)
    scope = await scope_of(request)
    accept = request.headers.getlist("accept")
    result = await retrieve_feature.retrieve(
        services, scope, accept, *_uids(request), original=_original_requested(request)
    )
    if not result.multipart:
        payload = result.instances[0]
        media_type = f"{DICOM}; transfer-syntax={payload.transfer_syntax_uid}"
        if not payload.streamed:
            return Response(await retrieve_feature.payload_bytes(services, payload), media_type=media_type)
        return StreamingResponse(
            retrieve_feature.payload_chunks(services, payload),
            media_type=media_type,
            headers={"content-length": str(payload.size)},
        )
    boundary = new_boundary()
    headers = [
        part_header(boundary, f"{DICOM}; transfer-syntax={p.transfer_syntax_uid}", first=index == 0)
        for index, p in enumerate(result.instances)
    ]
    closing = closing_delimiter(boundary)
    length = sum(len(h) for h in headers) + sum(p.size for p in result.instances) + len(closing)
    return StreamingResponse(
        _multipart_chunks(services, headers, result.instances, closing),
        media_type=f'multipart/related; boundary="{boundary}"',
        headers={"content-length": str(length)},
    )


async def _multipart_chunks(
    services: Services, headers: list[bytes], payloads: list[InstancePayload], closing: bytes
) -> AsyncIterator[bytes]:
    for header, payload in zip(headers, payloads, strict=True):
        yield header
        async for chunk in retrieve_feature.payload_chunks(services, payload):
            yield chunk
    yield closing


async def metadata(request: Request) -> Response:
    """The DICOM JSON of every instance in the study, series or instance, with an ETag."""
    scope = await scope_of(request)
    require_dicom_json(request)
    result = await metadata_feature.metadata(
        services_of(request),
        scope,
        *_uids(request),
        if_none_match=request.headers.get("if-none-match"),
        original=_original_requested(request),
    )
    if result.not_modified:
        return Response(status_code=304)
    return StreamingResponse(_json_array(result.datasets), media_type=DICOM_JSON, headers={"ETag": result.etag})


async def _json_array(datasets: list[str]) -> AsyncIterator[bytes]:
    for start in range(0, len(datasets), 64):
        prefix = "[" if start == 0 else ","
        yield (prefix + ",".join(datasets[start : start + 64])).encode()
    yield b"]"
