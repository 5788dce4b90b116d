"""QIDO-RS over HTTP: the six search routes (spec §5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..features.query.attributes import Resource
from ..features.query.parameters import parse_options
from ..features.query.service import search
from .context import scope_of, services_of
from .http import DICOM_JSON, query_pairs, require_dicom_json


def _route(resource: Resource):
    async def endpoint(request: Request) -> Response:
        """Searches at the route's level: 200 with a JSON array, 204 when nothing matches."""
        options = parse_options(query_pairs(request))
        scope = await scope_of(request)
        require_dicom_json(request)
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
