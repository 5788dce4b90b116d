"""What endpoints share in reading requests and writing answers: query pairs, media types, DICOM JSON Accept."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from ..dicom.media_types import accepts_dicom_json
from ..dicom.multipart import parse_media_type
from ..errors import NotAcceptable, UnsupportedMediaType

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


async def json_body(request: Request) -> bytes:
    """The request's body; 415 unless its Content-Type is ``application/json``."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != JSON:
        raise UnsupportedMediaType()
    return await request.body()
