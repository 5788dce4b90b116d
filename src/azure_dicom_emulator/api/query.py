"""QIDO-RS over HTTP: the six search routes (spec §5)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from ..dicom.media_types import accepts_dicom_json
from ..errors import NotAcceptable
from ..features.query.attributes import Resource
from ..features.query.parameters import parse_options
from ..features.query.service import search
from .context import scope_of, services_of

DICOM_JSON = "application/dicom+json"


def _route(resource: Resource):
    async def endpoint(request: Request) -> Response:
        """Searches at the route's level: 200 with a JSON array, 204 when nothing matches."""
        pairs = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        options = parse_options(pairs)
        scope = await scope_of(request)
        if not accepts_dicom_json(request.headers.getlist("accept")):
            raise NotAcceptable()
        params = request.path_params
        result = await search(services_of(request), scope, resource, options, params.get("study"), params.get("series"))
        headers = {}
        if result.erroneous_keys:
            headers["erroneous-dicom-attributes"] = ",".join(result.erroneous_keys)
        if not result.count:
            return Response(status_code=204, headers=headers)
        return Response(result.body, media_type=DICOM_JSON, headers=headers)

    return endpoint


all_studies = _route(Resource.ALL_STUDIES)
all_series = _route(Resource.ALL_SERIES)
all_instances = _route(Resource.ALL_INSTANCES)
study_series = _route(Resource.STUDY_SERIES)
study_instances = _route(Resource.STUDY_INSTANCES)
study_series_instances = _route(Resource.STUDY_SERIES_INSTANCES)
