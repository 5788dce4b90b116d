"""The emulator's own tools over HTTP: reset (``/emulator/data``), faults, the request log, operations."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import BadRequest
from ..features import emulator_tools
from ..features.model_binding import integer_parameter
from ..features.operations import records as operations
from .context import services_of, tools_scope
from .http import json_body

MAX_ITEMS = 1000


async def reset(request: Request) -> Response:
    """``DELETE /emulator/data``: 204 once every instance, change, event, tag, operation and partition is gone."""
    await emulator_tools.reset_data(services_of(request))
    return Response(status_code=204)


async def list_faults(request: Request) -> Response:
    """``GET /emulator/faults``: the rules in force, each with how often it fired."""
    return JSONResponse(await request.app.state.fault_book.listing(services_of(request)))


async def add_faults(request: Request) -> Response:
    """``POST /emulator/faults``: adds a JSON list of rules after those in force; 400 naming a faulty field."""
    try:
        body = json.loads(await json_body(request))
    except ValueError as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    rules = emulator_tools.parse_rules(body)
    book = request.app.state.fault_book
    await book.add(services_of(request), rules)
    return JSONResponse(await book.listing(services_of(request)), status_code=201)


async def clear_faults(request: Request) -> Response:
    """``DELETE /emulator/faults``: no rule in force any more."""
    await request.app.state.fault_book.replace(services_of(request), [])
    return Response(status_code=204)


async def list_requests(request: Request) -> Response:
    """``GET /emulator/requests[?limit=n]``: this process's latest requests, newest first."""
    return JSONResponse(request.app.state.request_log.latest(_limit(request)))


async def list_operations(request: Request) -> Response:
    """``GET /emulator/operations[?limit=n]``: the newest operations, as ``GET /v2/operations/{id}`` shows each."""
    limit = _limit(request)
    return JSONResponse(await operations.newest(services_of(request), await tools_scope(request), limit))


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    return MAX_ITEMS if raw is None else integer_parameter("limit", raw, 1, MAX_ITEMS)


def routes() -> list[BaseRoute]:
    """The tools' endpoints."""
    return [
        Route("/emulator/data", reset, methods=["DELETE"]),
        Route("/emulator/faults", list_faults, methods=["GET"]),
        Route("/emulator/faults", add_faults, methods=["POST"]),
        Route("/emulator/faults", clear_faults, methods=["DELETE"]),
        Route("/emulator/requests", list_requests, methods=["GET"]),
        Route("/emulator/operations", list_operations, methods=["GET"]),
    ]
