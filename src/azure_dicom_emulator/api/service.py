"""Routes about the service itself: partitions and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import BadRequest
from ..features import partitions
from ..features.health import health_report
from .context import api_version, services_of


async def list_partitions(request: Request) -> Response:
    """``GET /{v}/partitions``: every partition, or 400 when the feature is off."""
    api_version(request.path_params["version"])
    services = services_of(request)
    if not services.settings.partitions_enabled:
        raise BadRequest(partitions.FEATURE_DISABLED)
    return JSONResponse(await partitions.list_all(services))


async def health(request: Request) -> Response:
    """``GET /health/check``: 200 when the index answers, 503 otherwise."""
    report, healthy = await health_report(services_of(request))
    return JSONResponse(report, status_code=200 if healthy else 503)
