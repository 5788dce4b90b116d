"""Reading the JSON bodies of requests (not DICOM JSON): Azure's syntax error and its body-model error texts."""

from __future__ import annotations

import json

from ..errors import BadRequest

SYNTAX_ERROR = "The syntax of the request body is invalid."


def load_json(body: bytes) -> object:
    """The JSON document of ``body``; 400 with Azure's syntax text when it is no JSON (or nested too deeply)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(SYNTAX_ERROR) from exc


def case_insensitive(entry: dict) -> dict:
    """An object's properties keyed by their lower-cased names, as Azure matches them."""
    return {str(key).lower(): value for key, value in entry.items()}


def body_error(field: str, detail: str) -> BadRequest:
    """Azure's 400 for a body property that cannot be bound."""
    return BadRequest(f"The field '{field}' in request body is invalid: {detail}")
