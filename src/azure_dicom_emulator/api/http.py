"""What endpoints share in reading requests and writing answers: query pairs, media types, DICOM JSON Accept,
JSON bodies."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from starlette.requests import Request

from ..dicom.media_types import accepts_dicom_json
from ..dicom.multipart import parse_media_type
from ..errors import BadRequest, NotAcceptable, UnsupportedMediaType

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
JSON = "application/json"
JSON_UTF8 = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
INVALID_JSON_SYNTAX = "The syntax of the request body is invalid."
MAX_JSON_DEPTH = 64
"""How deeply arrays and objects may nest in a JSON body, as .NET's JSON reader allows by default."""


def query_pairs(request: Request) -> list[tuple[str, str]]:
    """The query string's ``(name, value)`` pairs in order, percent-decoded, blank values kept."""
    return parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)


def require_dicom_json(request: Request) -> None:
    """Raises NotAcceptable (406) unless the request's Accept allows ``application/dicom+json``."""
    if not accepts_dicom_json(request.headers.getlist("accept")):
        raise NotAcceptable()


async def json_body(request: Request) -> object:
    """The request's JSON body, parsed: 415 unless its Content-Type is ``application/json``, 400 "The syntax of
    the request body is invalid." unless it is JSON nesting at most MAX_JSON_DEPTH arrays and objects deep."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != JSON:
        raise UnsupportedMediaType()
    return parse_json(await request.body())


def parse_json(body: bytes) -> object:
    """``body`` as JSON; 400 "The syntax of the request body is invalid." for anything else, or for nesting
    deeper than MAX_JSON_DEPTH."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(INVALID_JSON_SYNTAX) from exc
    if _depth_exceeds(document, MAX_JSON_DEPTH):
        raise BadRequest(INVALID_JSON_SYNTAX)
    return document


def _depth_exceeds(document: object, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` deep in ``document`` (walked without recursion)."""
    pending = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
