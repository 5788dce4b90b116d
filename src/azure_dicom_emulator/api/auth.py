"""The route guard: a versioned route runs only for a token whose roles grant the route's data action."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from ..features.auth import Auth, DataAction

Endpoint = Callable[[Request], Awaitable[Response]]


def auth_of(request: Request) -> Auth:
    """The running emulator's token checks and built-in issuer."""
    return request.app.state.auth


def guarded(endpoint: Endpoint, action: DataAction) -> Endpoint:
    """``endpoint`` behind the token check for ``action`` (401 or 403 before the handler); open while auth is off."""

    @functools.wraps(endpoint)
    async def check_then_serve(request: Request) -> Response:
        authenticator = auth_of(request).authenticator
        if authenticator is not None:
            await authenticator.authorize(request.headers.get("authorization"), action)
        return await endpoint(request)

    check_then_serve.data_action = action  # type: ignore[attr-defined]
    return check_then_serve
