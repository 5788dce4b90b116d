"""UPS-RS over HTTP: the workitem routes (spec §13): create, retrieve, update, change state, cancel, search."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..dicom.multipart import parse_media_type
from ..errors import UnsupportedMediaType
from ..features.query.parameters import parse_options
from ..features.workitems import search as search_feature
from ..features.workitems import service, state
from .context import check_route, scope_of, services_of, warning_header
from .errors import json_string
from .http import DICOM_JSON, JSON_UTF8, query_pairs, require_dicom_json, whole_body


async def create(request: Request) -> Response:
    """Creates a workitem (UID as the first query key, or in the dataset): 201 with its URL, no body."""
    _require_dicom_json_body(request)
    check_route(request)
    require_dicom_json(request)
    new = service.check_new(query_pairs(request), await _body(request))
    scope = await scope_of(request, create_partition=True)
    url = await service.create(services_of(request), scope, new)
    return Response(status_code=201, headers={"Location": url, "Content-Location": url})


async def retrieve(request: Request) -> Response:
    """One workitem as a DICOM JSON object."""
    scope = await scope_of(request)
    require_dicom_json(request)
    body = await service.retrieve(services_of(request), scope, request.path_params["workitem"])
    return Response(body, media_type=DICOM_JSON)


async def update(request: Request) -> Response:
    """Updates a workitem (the transaction UID as the first query key once it is claimed): 200, no body."""
    _require_dicom_json_body(request)
    scope = await scope_of(request)
    body = await _body(request)
    uid = request.path_params["workitem"]
    url = await service.update(services_of(request), scope, uid, query_pairs(request), body)
    return Response(status_code=200, headers={"Content-Location": url})


async def change_state(request: Request) -> Response:
    """Moves a workitem to another state: 200, no body; a Warning when it already is in that final state."""
    _require_dicom_json_body(request)
    scope = await scope_of(request)
    body = await _body(request)
    warning = await state.change(services_of(request), scope, request.path_params["workitem"], body)
    return Response(status_code=200, headers=warning_header(request, warning) if warning else None)


async def request_cancellation(request: Request) -> Response:
    """Cancels a SCHEDULED workitem: 202 with the outcome as a JSON string."""
    _require_dicom_json_body(request)
    scope = await scope_of(request)
    body = await _body(request)
    message = await state.request_cancellation(services_of(request), scope, request.path_params["workitem"], body)
    return Response(json_string(message), status_code=202, media_type=JSON_UTF8)


async def search(request: Request) -> Response:
    """Searches the partition's workitems: 200 with a DICOM JSON array, 204 when nothing matches."""
    options = parse_options(query_pairs(request))
    scope = await scope_of(request)
    require_dicom_json(request)
    body = await search_feature.search(services_of(request), scope, options)
    if not body:
        return Response(status_code=204)
    return Response(body, media_type=DICOM_JSON)


def _require_dicom_json_body(request: Request) -> None:
    """415 unless the body is declared ``application/dicom+json``."""
    content_type = request.headers.get("content-type", "")
    if parse_media_type(content_type)[0] != DICOM_JSON:
        raise UnsupportedMediaType(f"The specified content type '{content_type}' is not supported.")


async def _body(request: Request) -> bytes:
    return await whole_body(request, services_of(request).settings.max_request_bytes)
