"""Export over HTTP: ``POST /{v}/[partitions/{p}/]export`` (spec §11), in v1 and later."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import NotFound, ServiceError
from ..features.export.service import start_export
from ..features.operations import operation_url
from .context import api_version, is_prerelease, scope_of, services_of
from .http import json_body

MAX_BODY_BYTES = 4 * 1024 * 1024
VERSIONS = {"api-supported-versions": "1, 2"}


async def export(request: Request) -> Response:
    """Starts an export: 202 with the operation's reference, ``Location`` its URL; 404 in v1.0-prerelease.

    Every answer names the versions export exists in.
    """
    try:
        segment = request.path_params["version"]
        api_version(segment)
        if is_prerelease(segment):
            raise NotFound()
        body = await json_body(request, MAX_BODY_BYTES)
        scope = await scope_of(request)
        operation_id = await start_export(services_of(request), scope, body)
    except ServiceError as exc:
        exc.headers.update(VERSIONS)
        raise
    url = operation_url(scope, operation_id)
    return JSONResponse({"id": operation_id, "href": url}, status_code=202, headers={"Location": url, **VERSIONS})
