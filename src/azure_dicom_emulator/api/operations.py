"""Long-running operations over HTTP: ``GET /{v}/operations/{id}`` (spec §9)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..features.operations import records as operations
from .context import services_of, unpartitioned_scope


async def get(request: Request) -> Response:
    """200 when the operation has ended; 202 with Location while it has not; 404 when unknown."""
    scope = unpartitioned_scope(request)
    body, active = await operations.get(services_of(request), scope, request.path_params["operation"])
    if active:
        url = operations.operation_url(scope, body["operationId"])
        return JSONResponse(body, status_code=202, headers={"Location": url})
    return JSONResponse(body)
