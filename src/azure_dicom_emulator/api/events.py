"""The emulator's events endpoints (``/emulator/events``): the inspector, sinks, dead letters, validation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import BadRequest
from ..features.events import views
from ..features.events.runner import VALIDATION_PATH
from .context import services_of

MAX_DEAD_LETTERS = 1000


async def list_events(request: Request) -> Response:
    """``GET /emulator/events[?schema=cloudevents]``: the events received, oldest first."""
    schema = request.query_params.get("schema", "eventgrid").lower()
    return JSONResponse(await views.inspector_events(services_of(request), schema))


async def clear_events(request: Request) -> Response:
    """``DELETE /emulator/events``: empties the inspector."""
    await views.clear_inspector(services_of(request))
    return Response(status_code=204)


async def list_sinks(request: Request) -> Response:
    """``GET /emulator/events/sinks``: each sink's cursor and retry state."""
    return JSONResponse(await views.sink_states(services_of(request)))


async def list_dead_letters(request: Request) -> Response:
    """``GET /emulator/events/deadletters[?sink=name][&limit=n]``: events no sink could take."""
    raw_limit = request.query_params.get("limit", str(MAX_DEAD_LETTERS))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_DEAD_LETTERS:
        raise BadRequest(f"The limit must be a whole number from 1 to {MAX_DEAD_LETTERS}.")
    sink = request.query_params.get("sink")
    return JSONResponse(await views.dead_letters(services_of(request), sink, int(raw_limit)))


async def validate(request: Request) -> Response:
    """``GET /emulator/events/validate?sink=name&code=c``: a webhook's manual validation."""
    sink, code = request.query_params.get("sink"), request.query_params.get("code")
    if not sink or not code:
        raise BadRequest("Both 'sink' and 'code' are required.")
    await views.validate(services_of(request), sink, code)
    return JSONResponse({"validated": True})


def routes() -> list[BaseRoute]:
    """The events endpoints."""
    return [
        Route("/emulator/events", list_events, methods=["GET"]),
        Route("/emulator/events", clear_events, methods=["DELETE"]),
        Route("/emulator/events/sinks", list_sinks, methods=["GET"]),
        Route("/emulator/events/deadletters", list_dead_letters, methods=["GET"]),
        Route(VALIDATION_PATH, validate, methods=["GET"]),
    ]
