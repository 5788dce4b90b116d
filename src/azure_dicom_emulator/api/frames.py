"""WADO-RS frames and rendered images over HTTP (spec §4.4, §4.5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..dicom.multipart import closing_delimiter, new_boundary, part_header
from ..features.retrieve import frames as frames_feature
from ..features.retrieve import rendered as rendered_feature
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
    pieces = [
        piece
        for number, frame in enumerate(result.frames)
        for piece in (part_header(boundary, content_type, first=number == 0), frame)
    ]
    pieces.append(closing_delimiter(boundary))
    return PiecesResponse(pieces, media_type=f'multipart/related; boundary="{boundary}"')


class PiecesResponse(Response):
    """A response whose body is ``pieces`` one after the other, each sent as it is.

    Joining a frame of half a megabyte to its part headers would copy it into a fresh buffer;
    sending the pieces one by one hands every frame to the socket as it was read.
    """

    def __init__(self, pieces: list[bytes], media_type: str) -> None:
        self.pieces = pieces
        super().__init__(media_type=media_type, headers={"content-length": str(sum(map(len, pieces)))})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        last = len(self.pieces) - 1
        for number, piece in enumerate(self.pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": number < last})


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
