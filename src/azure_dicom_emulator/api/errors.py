"""How errors reach the client: plain-text messages with Azure's statuses, never a stack trace."""

from __future__ import annotations

import json
import logging
import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import INTERNAL_ERROR_MESSAGE, ServiceError
from .context import UnsupportedApiVersion, warning_header
from .http import JSON_UTF8, TEXT

log = logging.getLogger(__name__)


async def service_error(request: Request, exc: Exception) -> Response:
    """The response for a ServiceError: its status, headers and plain-text message."""
    assert isinstance(exc, ServiceError)
    if isinstance(exc, UnsupportedApiVersion):
        return unsupported_version(request, exc.message)
    if not exc.message:
        return Response(status_code=exc.status, headers=exc.headers)
    headers = {**exc.headers, **warning_header(request, exc.message)} if exc.warning else exc.headers
    if exc.quoted:
        return Response(json_string(exc.message), status_code=exc.status, media_type=JSON_UTF8, headers=headers)
    return Response(exc.message, status_code=exc.status, media_type=TEXT, headers=headers)


def json_string(message: str) -> str:
    """``message`` as a JSON string literal, the body Azure gives a workitem transaction's outcome."""
    return json.dumps(message, ensure_ascii=False)


def unsupported_version(request: Request, segment: str) -> Response:
    """Azure's 400 for a version it does not serve."""
    body = {
        "error": {
            "code": "UnsupportedApiVersion",
            "message": f"The HTTP resource that matches the request URI '{request.url}' does not support "
            f"the API version '{segment.lstrip('v')}'.",
        }
    }
    return Response(json.dumps(body), status_code=400, media_type=JSON_UTF8)


async def not_found(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods: the status alone, with an empty body."""
    return Response(status_code=getattr(exc, "status_code", 404))


class InternalErrorMiddleware:
    """Turns an unexpected exception into Azure's generic 500 text, logged with a request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = uuid.uuid4().hex
            log.exception("request %s %s failed (request id %s)", scope.get("method"), scope.get("path"), request_id)
            if started:
                raise
            response = Response(
                INTERNAL_ERROR_MESSAGE, status_code=500, media_type=TEXT, headers={"x-request-id": request_id}
            )
            await response(scope, receive, send)


class QueryStringGuardMiddleware:
    """Rejects query strings with ``<`` (raw or escaped), as Azure does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").lower()
            if b"<" in query or b"%3c" in query:
                response = Response("The query string included invalid characters.", 400, media_type=TEXT)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
