"""The change feed over HTTP: ``GET /{v}/changefeed`` and ``/{v}/changefeed/latest`` (spec §7)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..features.changefeed import service as changefeed
from .context import api_version, services_of
from .http import JSON_UTF8, query_pairs


def _params(request: Request) -> dict[str, str]:
    """Query parameters by lowercased name (Azure matches them case-insensitively), first value of each."""
    params: dict[str, str] = {}
    for name, value in query_pairs(request):
        params.setdefault(name.lower(), value)
    return params


async def feed(request: Request) -> Response:
    """The entries selected by the query, as a JSON array."""
    version = api_version(request.path_params["version"])
    query = changefeed.feed_query(version, _params(request))
    return Response(await changefeed.read(services_of(request), query), media_type=JSON_UTF8)


async def latest(request: Request) -> Response:
    """The newest entry as a JSON object, or 204 when the feed is empty."""
    version = api_version(request.path_params["version"])
    include_metadata = changefeed.latest_query(_params(request))
    entry = await changefeed.latest(services_of(request), version, include_metadata)
    if entry is None:
        return Response(status_code=204)
    return Response(entry, media_type=JSON_UTF8)
