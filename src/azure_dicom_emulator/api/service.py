"""Routes about the service itself: partitions and the health check."""

from __future__ import annotations

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import BadRequest
from ..features import partitions
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
    services = services_of(request)
    try:
        async with services.db.read() as conn:
            await conn.execute(text("SELECT 1"))
        status, code = "Healthy", 200
    except Exception:
        status, code = "Unhealthy", 503
    body = {
        "overallStatus": status,
        "details": [
            {
                "name": "DataStoreHealthCheck",
                "status": status,
                "description": f"The data store is {status.lower()}.",
            }
        ],
    }
    return JSONResponse(body, status_code=code)
