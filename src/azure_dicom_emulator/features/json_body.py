"""Reading the JSON bodies of requests (not DICOM JSON): Azure's syntax error and its body-model error texts."""

from __future__ import annotations

import json

from ..errors import BadRequest

SYNTAX_ERROR = "The syntax of the request body is invalid."
MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused, as .NET's JSON reader refuses them."""


def load_json(body: bytes) -> object:
    """The JSON document of ``body``; 400 with Azure's syntax text when it is no JSON or nests arrays and
    objects more than MAX_JSON_DEPTH deep."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(SYNTAX_ERROR) from exc
    if _depth_exceeds(document, MAX_JSON_DEPTH):
        raise BadRequest(SYNTAX_ERROR)
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


def case_insensitive(entry: dict) -> dict:
    """An object's properties keyed by their lower-cased names, as Azure matches them."""
    return {str(key).lower(): value for key, value in entry.items()}


def body_error(field: str, detail: str) -> BadRequest:
    """Azure's 400 for a body property that cannot be bound."""
    return BadRequest(f"The field '{field}' in request body is invalid: {detail}")
