"""DELETE of studies, series and instances over HTTP (spec §6)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..features.delete import service as delete_feature
from .context import scope_of, services_of


async def delete(request: Request) -> Response:
    """Deletes the study, series or instance named by the path: 204, or 404 when nothing matched."""
    scope = await scope_of(request)
    params = request.path_params
    await delete_feature.delete(
        services_of(request), scope, params["study"], params.get("series"), params.get("instance")
    )
    return Response(status_code=204)
