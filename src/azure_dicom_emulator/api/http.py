"""What endpoints share in reading requests and writing answers: query pairs, media types, DICOM JSON Accept."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from ..dicom.media_types import accepts_dicom_json
from ..dicom.multipart import parse_media_type
from ..errors import BadRequest, NotAcceptable, PayloadTooLarge, UnsupportedMediaType

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string's ``(name, value)`` pairs in order, percent-decoded, blank values kept."""
    return parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def require_dicom_json(request: Request) -> None:
    """Raises NotAcceptable (406) unless the request's Accept allows ``application/dicom+json``."""
    if not accepts_dicom_json(request.headers.getlist("accept")):
        raise NotAcceptable()


async def json_body(request: Request, limit: int | None = None) -> bytes:
    """The body of a request that must be ``application/json`` (else 415); more than ``limit`` bytes is a 400
    with the text of Azure's 413."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != JSON:
        raise UnsupportedMediaType()
    if limit is None:
        return await request.body()
    too_large = BadRequest(PayloadTooLarge(limit).message)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)
