"""An export request's body: the identifiers to export and the destination's settings, bound in Azure's order.

Type values and property names are matched case-insensitively. The source may be left out, which
exports everything in the partition (as Azure does; the open-source service requires it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...dicom.value_rules import is_valid_uid
from ...errors import BadRequest
from ..json_body import body_error, case_insensitive, load_json
from ..uids import normalized

IDENTIFIERS = "identifiers"
AZURE_BLOB = "azureblob"
UNSUPPORTED_SOURCE = "Unsupported export source '{type}'."
UNSUPPORTED_DESTINATION = "Unsupported export destination '{type}'."
MISSING_VALUES = "Missing value for property 'Values'."
INVALID_IDENTIFIER = "The string '{text}' was not recognized as a valid DICOM identifier."
_STRING_SETTINGS = {
    "connectionstring": "connectionString",
    "blobcontainername": "blobContainerName",
    "blobcontaineruri": "blobContainerUri",
}


@dataclass(frozen=True)
class Identifier:
    """A study, series or instance to export, as the request wrote it and as the index keys it."""

    text: str
    study_uid: str
    series_uid: str | None = None
    sop_uid: str | None = None


@dataclass(frozen=True)
class ExportRequest:
    """A bound export request: its identifiers (None: the whole partition) and the destination's settings."""

    identifiers: list[Identifier] | None
    destination: dict
    """The ``azureblob`` settings, keyed by lower-cased property names."""


def parse_identifier(text: str) -> Identifier:
    """``study[/series[/instance]]`` as an Identifier; 400 unless it is one to three valid UIDs joined by ``/``."""
    parts = text.split("/")
    if len(parts) > 3 or not all(is_valid_uid(part) for part in parts):
        raise BadRequest(INVALID_IDENTIFIER.format(text=text))
    uids = [normalized(part) for part in parts] + [None] * (3 - len(parts))
    return Identifier(text, *uids)


def parse_export_request(body: bytes) -> ExportRequest:
    """The request's identifiers and destination settings; Azure's 400 texts for what cannot be bound.

    The order is Azure's: the source's type and identifiers, the destination's type, then a source
    without values. The destination's settings are checked by ``destination``.
    """
    document = load_json(body)
    if not isinstance(document, dict):
        raise body_error("$", "The JSON value could not be converted to an export specification.")
    fields = case_insensitive(document)
    source = fields.get("source")
    identifiers = None if source is None else _source_identifiers(source)
    destination = _destination_settings(fields.get("destination"))
    if identifiers is not None and not identifiers:
        raise BadRequest(MISSING_VALUES)
    return ExportRequest(identifiers, destination)


def _echo(value: object) -> str:
    """A type value as the request wrote it."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _source_identifiers(source: object) -> list[Identifier]:
    if not isinstance(source, dict):
        raise body_error("$.source", "The JSON value could not be converted to an export source.")
    fields = case_insensitive(source)
    kind = fields.get("type")
    if not isinstance(kind, str) or kind.lower() != IDENTIFIERS:
        raise BadRequest(UNSUPPORTED_SOURCE.format(type=_echo(kind)))
    settings = fields.get("settings")
    if settings is None:
        return []
    if not isinstance(settings, dict):
        raise body_error("$.source.settings", "The JSON value could not be converted to identifier settings.")
    values = case_insensitive(settings).get("values")
    if values is None:
        return []
    if not isinstance(values, list):
        raise body_error("$.source.settings.values", "The JSON value could not be converted to a list of strings.")
    return [_bound_identifier(value) for value in values]


def _bound_identifier(value: object) -> Identifier:
    """An identifier of the request; a JSON value that is no string is as invalid as a malformed one."""
    if not isinstance(value, str):
        raise BadRequest(INVALID_IDENTIFIER.format(text=json.dumps(value)))
    return parse_identifier(value)


def _destination_settings(destination: object) -> dict:
    if destination is None:
        raise body_error("$.destination", "The Destination field is required.")
    if not isinstance(destination, dict):
        raise body_error("$.destination", "The JSON value could not be converted to an export destination.")
    fields = case_insensitive(destination)
    kind = fields.get("type")
    if not isinstance(kind, str) or kind.lower() != AZURE_BLOB:
        raise BadRequest(UNSUPPORTED_DESTINATION.format(type=_echo(kind)))
    settings = fields.get("settings")
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise body_error("$.destination.settings", "The JSON value could not be converted to Azure Blob settings.")
    bound = case_insensitive(settings)
    for name, written in _STRING_SETTINGS.items():
        if bound.get(name) is not None and not isinstance(bound[name], str):
            raise body_error(f"$.destination.settings.{written}", "The JSON value could not be converted to a string.")
    if bound.get("usemanagedidentity") is not None and not isinstance(bound["usemanagedidentity"], bool):
        raise body_error(
            "$.destination.settings.useManagedIdentity", "The JSON value could not be converted to a boolean."
        )
    return bound
