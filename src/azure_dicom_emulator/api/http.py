"""What endpoints share in reading requests and writing answers: query pairs, media types, DICOM JSON Accept,
JSON bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from ..dicom.media_types import accepts_dicom_json
from ..dicom.multipart import parse_media_type
from ..errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
INCOMPLETE_BODY = "The request body ended before the length its headers declared."
"""How deeply arrays and objects may nest in a JSON body, as .NET's JSON reader allows by default."""


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string's ``(name, value)`` pairs in order, percent-decoded, blank values kept."""
    return parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def require_dicom_json(request: Request) -> None:
    """Raises NotAcceptable (406) unless the request's Accept allows ``application/dicom+json``."""
    if not accepts_dicom_json(request.headers.getlist("accept")):
        raise NotAcceptable()


def limited_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The request body's chunks as they arrive; 413 once it is (or declares to be) over ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    return _limited(request.stream(), limit)


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


async def whole_body(request: Request, limit: int) -> bytes:
    """The request body, read whole; 413 when it is over ``limit`` bytes."""
    return b"".join([chunk async for chunk in limited_body(request, limit)])


async def json_body(request: Request, limit: int | None = None) -> bytes:
    """The body of a request that must be ``application/json`` (else 415); more than ``limit`` bytes is a 400
    with the text of Azure's 413."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != JSON:
        raise UnsupportedMediaType()
    if limit is None:
        return await request.body()
    try:
        return await whole_body(request, limit)
    except PayloadTooLarge as exc:
        raise BadRequest(exc.message) from exc
