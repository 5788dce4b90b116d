"""WADO-RS frames and rendered images over HTTP (spec §4.4, §4.5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ..dicom.multipart import closing_delimiter, new_boundary, part_header
from ..features import frames as frames_feature
from ..features import rendered as rendered_feature
from .context import scope_of, services_of


async def frames(request: Request) -> Response:
    """The listed frames of an instance: one part, or multipart/related with one part per frame."""
    scope = await scope_of(request)
    params = request.path_params
    result = await frames_feature.retrieve_frames(
        services_of(request),
        scope,
        request.headers.getlist("accept"),
        params["study"],
        params["series"],
        params["instance"],
        params["frames"],
    )
    content_type = f"{result.media_type}; transfer-syntax={result.transfer_syntax_uid}"
    if not result.multipart:
        return Response(result.frames[0], media_type=content_type)
    boundary = new_boundary()
    body = [
        piece
        for number, frame in enumerate(result.frames)
        for piece in (part_header(boundary, content_type, first=number == 0), frame)
    ]
    body.append(closing_delimiter(boundary))
    return Response(b"".join(body), media_type=f'multipart/related; boundary="{boundary}"')


async def rendered(request: Request) -> Response:
    """The instance's first frame, or the frame named in the path, as a JPEG or PNG image."""
    scope = await scope_of(request)
    services = services_of(request)
    params = request.path_params
    lenient = services.settings.rendered_accept == "lenient"
    accept = request.headers.getlist("accept")
    if lenient and "accept" in request.query_params:
        accept = request.query_params.getlist("accept")
    image = await rendered_feature.rendered(
        services,
        scope,
        accept,
        params["study"],
        params["series"],
        params["instance"],
        params.get("frame"),
        request.query_params.get("quality"),
        lenient=lenient,
    )
    return Response(image.data, media_type=image.media_type)
