"""Extended query tags over HTTP: ``/{v}/extendedquerytags[/{tagPath}[/errors]]`` (spec §8)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..features.extended_query_tags import service as tags
from ..features.operations.records import operation_url
from ..features.paging import paging
from .context import services_of, unpartitioned_scope
from .http import json_body, query_pairs


async def add(request: Request) -> Response:
    """Adds tags: 202 with the reindex operation's reference and Location."""
    scope = unpartitioned_scope(request)
    body = await json_body(request)
    operation_id = await tags.add(services_of(request), scope, body)
    url = operation_url(scope, operation_id)
    return JSONResponse({"id": operation_id, "href": url}, status_code=202, headers={"Location": url})


async def list_tags(request: Request) -> Response:
    """A page of the tags."""
    scope = unpartitioned_scope(request)
    limit, offset = paging(query_pairs(request))
    return JSONResponse(await tags.list_tags(services_of(request), scope, limit, offset))


async def get_tag(request: Request) -> Response:
    """One tag."""
    scope = unpartitioned_scope(request)
    return JSONResponse(await tags.get_tag(services_of(request), scope, request.path_params["tag"]))


async def delete_tag(request: Request) -> Response:
    """Removes a tag: 204."""
    unpartitioned_scope(request)
    await tags.delete_tag(services_of(request), request.path_params["tag"])
    return Response(status_code=204)


async def update_tag(request: Request) -> Response:
    """Enables or disables searching on a tag: 200 with the tag."""
    scope = unpartitioned_scope(request)
    body = await json_body(request)
    return JSONResponse(await tags.update_tag(services_of(request), scope, request.path_params["tag"], body))


async def list_errors(request: Request) -> Response:
    """A page of a tag's indexing errors."""
    unpartitioned_scope(request)
    limit, offset = paging(query_pairs(request))
    return JSONResponse(await tags.list_errors(services_of(request), request.path_params["tag"], limit, offset))
