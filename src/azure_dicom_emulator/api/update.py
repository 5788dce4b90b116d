"""Bulk update over HTTP: ``POST /{v}/[partitions/{p}/]studies/$bulkUpdate`` (spec §10)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..dicom.multipart import parse_media_type
from ..errors import UnsupportedMediaType
from ..features.operations import operation_url
from ..features.update.request import MAX_BODY_BYTES, InvalidChangeDataset
from ..features.update.service import start_update
from .context import scope_of, services_of
from .http import DICOM_JSON, JSON


async def bulk_update(request: Request) -> Response:
    """Starts an update of the listed studies: 202 with the operation's reference and no Location."""
    media_type, _ = parse_media_type(request.headers.get("content-type", ""))
    if media_type != JSON:
        raise UnsupportedMediaType()
    scope = await scope_of(request)
    body = await _body(request)
    try:
        operation_id = await start_update(services_of(request), scope, body)
    except InvalidChangeDataset as exc:
        return Response(json.dumps(exc.dataset()), status_code=400, media_type=DICOM_JSON)
    return JSONResponse({"id": operation_id, "href": operation_url(scope, operation_id)}, status_code=202)


async def _body(request: Request) -> bytes:
    """The body, read no further than one byte past MAX_BODY_BYTES (the request check refuses more)."""
    chunks, received = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            break
    return b"".join(chunks)
