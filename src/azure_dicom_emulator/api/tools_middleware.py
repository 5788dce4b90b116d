"""Middleware of the emulator's tools: the request log around everything, injected faults before the handlers."""

from __future__ import annotations

import json
import time
import uuid

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import INTERNAL_ERROR_MESSAGE
from ..features.emulator_tools import TOOLS_PREFIX, FaultBook, RequestLog, delay
from .http import JSON_UTF8, TEXT

REQUEST_ID_HEADER = b"x-ms-request-id"
# The emulator's choice: Azure's front door answers a throttled request with a JSON error of this shape.
THROTTLED_BODY = json.dumps(
    {
        "error": {
            "code": "TooManyRequests",
            "message": "The request rate is too high. Retry after the number of seconds in the Retry-After header.",
        }
    }
)


class RequestLogMiddleware:
    """Records every request outside ``/emulator`` (method, path, status, duration) and gives it a request id."""

    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(TOOLS_PREFIX):
            await self.app(scope, receive, send)
            return
        started_wall, started = time.time(), time.perf_counter()
        request_id = uuid.uuid4().hex
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = (time.perf_counter() - started) * 1000
            self.log.record(started_wall, scope["method"], scope["path"], status, duration_ms, request_id)


class FaultInjectionMiddleware:
    """Answers a request that fires a fault rule with the rule's status, before any handler sees it."""

    def __init__(self, app: ASGIApp, book: FaultBook) -> None:
        self.app = app
        self.book = book

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services = getattr(scope["app"].state, "services", None)
        rule = await self.book.fire(services, scope["method"], scope["path"]) if services else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        await delay(rule)
        if rule.status is None:
            await self.app(scope, receive, send)
            return
        headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
        if rule.status == 429:
            response = Response(THROTTLED_BODY, rule.status, headers, media_type=JSON_UTF8)
        elif rule.status >= 500:
            response = Response(INTERNAL_ERROR_MESSAGE, rule.status, headers, media_type=TEXT)
        else:
            response = Response(status_code=rule.status, headers=headers)
        await response(scope, receive, send)
