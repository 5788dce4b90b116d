"""The health check (``GET /health/check``): whether the index database answers, reported in Azure's shape."""

from __future__ import annotations

from .services import Services

HEALTHY, UNHEALTHY = "Healthy", "Unhealthy"


async def health_report(services: Services) -> tuple[dict, bool]:
    """Azure's health report of the data store, and whether it is healthy (the index answers a query)."""
    try:
        await services.db.ping()
        status = HEALTHY
    except Exception:
        status = UNHEALTHY
    report = {
        "overallStatus": status,
        "details": [
            {
                "name": "DataStoreHealthCheck",
                "status": status,
                "description": f"The data store is {status.lower()}.",
            }
        ],
    }
    return report, status == HEALTHY
