"""STOW-RS over HTTP: POST and PUT on ``studies`` and ``studies/{study}`` (spec §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ..dicom.multipart import MultipartError, iter_parts, parse_media_type
from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ..features.store import service as store_feature
from ..features.uids import require_valid
from .context import host_name, scope_of, services_of
from .http import DICOM, DICOM_JSON, require_dicom_json

INCOMPLETE_BODY = "The request body ended before the length its headers declared."


async def store(request: Request) -> Response:
    """Stores the instances in the body; PUT replaces existing ones."""
    limit = services_of(request).settings.max_request_bytes
    content_type = request.headers.get("content-type", "")
    media_type, params = parse_media_type(content_type)
    if media_type == "multipart/related":
        boundary = params.get("boundary")
        if not boundary:
            raise UnsupportedMediaType(
                f"The content type '{content_type}' is either not multipart or is missing boundary."
            )
        if "start" in params:
            raise BadRequest("The start parameter in multipart/related request is not supported.")
    elif media_type != DICOM:
        raise UnsupportedMediaType(f"The specified content type '{content_type}' is not supported.")
    scope = await scope_of(request, create_partition=True)
    require_dicom_json(request)
    study_uid = request.path_params.get("study")
    require_valid(study_uid)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    body = _limited(request.stream(), limit)
    if media_type == DICOM:
        parts = _single_part(body)
    else:
        parts = _multipart_parts(body, boundary, params.get("type"))
    outcome = await store_feature.store(services_of(request), scope, parts, study_uid, request.method == "PUT")
    if outcome.dataset is None:
        return Response(status_code=outcome.status)
    headers = {}
    if outcome.multiple_values_indexed:
        headers["Warning"] = f'299 {host_name(request)}: "{store_feature.MULTIPLE_VALUES_WARNING}"'
    return Response(
        store_feature.response_body(outcome.dataset),
        status_code=outcome.status,
        media_type=DICOM_JSON,
        headers=headers,
    )


async def _limited(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, 413 past ``limit`` bytes; 400 when the client leaves before the body's declared end."""
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise PayloadTooLarge(limit)
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise BadRequest(INCOMPLETE_BODY) from exc


async def _single_part(body: AsyncIterator[bytes]) -> AsyncIterator[AsyncIterator[bytes]]:
    yield body


async def _multipart_parts(
    body: AsyncIterator[bytes], boundary: str, declared_type: str | None
) -> AsyncIterator[AsyncIterator[bytes]]:
    """Each part's body; a part that is not ``application/dicom`` fails the whole request (415)."""
    try:
        first = True
        async for part, chunks in iter_parts(body, boundary):
            content_type = part.content_type
            if content_type is None and first:
                content_type = declared_type
            first = False
            if content_type is None or content_type.strip().lower() != DICOM:
                raise UnsupportedMediaType(f"The specified content type '{content_type or ''}' is not supported.")
            yield _malformed_as_bad_request(chunks)
    except MultipartError as exc:
        raise _bad_body(exc) from exc


async def _malformed_as_bad_request(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except MultipartError as exc:
        raise _bad_body(exc) from exc


def _bad_body(exc: MultipartError) -> BadRequest:
    return BadRequest(f"The multipart request body is invalid: {exc}")
