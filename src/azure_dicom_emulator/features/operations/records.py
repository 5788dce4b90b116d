"""Long-running operations as clients see them: ``GET /{v}/operations/{id}`` (spec §9)."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import Row

from ...errors import NotFound
from ...storage import operations
from ..scope import Scope
from ..services import Services
from ..timestamps import utc_text

REINDEX = "reindex"
UPDATE = "update"
EXPORT = "export"
_WITH_PERCENT_COMPLETE = frozenset({REINDEX, UPDATE})


class LostOwnership(RuntimeError):
    """Another worker took the operation over (our lease ran out); the batch in progress is rolled back."""


def operation_url(scope: Scope, operation_id: str) -> str:
    """The absolute URL of an operation, under the request's version."""
    return f"{scope.base_url}/{scope.version_segment}/operations/{operation_id}"


def operation_id_of(text: str) -> str:
    """The canonical (32 lowercase hex digits) form of an operation id; 404 when it is no GUID."""
    try:
        return uuid.UUID(text).hex
    except ValueError as exc:
        raise NotFound() from exc


async def get(services: Services, scope: Scope, text: str) -> tuple[dict, bool]:
    """The operation's JSON and whether it is still running (not started or running); 404 when unknown."""
    async with services.db.read() as conn:
        row = await operations.find(conn, operation_id_of(text))
    if row is None:
        raise NotFound()
    return _record(row, scope), row.status in operations.ACTIVE


async def newest(services: Services, scope: Scope, limit: int) -> list[dict]:
    """Up to ``limit`` operations as ``get`` shows them, the newest first."""
    async with services.db.read() as conn:
        rows = await operations.newest(conn, limit)
    return [_record(row, scope) for row in rows]


def _record(row: Row, scope: Scope) -> dict:
    """An operation's JSON, its fields by type (spec-next §0.3): ``percentComplete`` for reindex and update,
    ``resources`` (the tags' URLs) for reindex, ``results`` for any type whose checkpoint holds a ``"results"``
    object (update, export); v1 calls a succeeded operation ``completed``."""
    status = row.status
    if status == operations.SUCCEEDED and scope.api_version < 2:
        status = "completed"
    root = f"{scope.base_url}/{scope.version_segment}"
    body = {
        "operationId": row.operation_id,
        "type": row.type,
        "createdTime": utc_text(row.created_time),
        "lastUpdatedTime": utc_text(row.last_updated_time),
        "status": status,
    }
    if row.type in _WITH_PERCENT_COMPLETE:
        body["percentComplete"] = row.percent_complete
    if row.type == REINDEX:
        body["resources"] = [f"{root}/extendedquerytags/{path}" for path in json.loads(row.resources)]
    results = json.loads(row.checkpoint).get("results")
    if results is not None:
        body["results"] = {name: value for name, value in results.items() if value is not None}
    return body
