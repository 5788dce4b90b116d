"""The health check (``GET /health/check``): whether the index database and the blob store answer, in Azure's shape."""

from __future__ import annotations

import asyncio

from .services import Services

HEALTHY, UNHEALTHY = "Healthy", "Unhealthy"
CHECK_SECONDS = 10.0
"""How long each part of the check may take before it counts as unhealthy."""


async def health_report(services: Services) -> tuple[dict, bool]:
    """Azure's health report of the data store and the blob store, and whether both are healthy."""
    database, blobs = await asyncio.gather(_answers(services.db.ping()), _answers(services.blobs.check()))
    details = [
        {"name": "DataStoreHealthCheck", "status": database, "description": f"The data store is {database.lower()}."},
        {"name": services.blobs.name, "status": blobs, "description": f"The blob store is {blobs.lower()}."},
    ]
    overall = HEALTHY if database == blobs == HEALTHY else UNHEALTHY
    return {"overallStatus": overall, "details": details}, overall == HEALTHY


async def _answers(check) -> str:
    """HEALTHY when the awaitable ``check`` completes in time, else UNHEALTHY."""
    try:
        await asyncio.wait_for(check, CHECK_SECONDS)
    except Exception:  # any failure, BlobStoreUnavailable and timeouts included
        return UNHEALTHY
    return HEALTHY
