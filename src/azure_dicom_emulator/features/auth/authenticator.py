"""A request's ``Authorization`` header to a decision: go on, 401 with Azure's challenge, or 403."""

from __future__ import annotations

from ...errors import AUTHORIZATION_FAILED, Forbidden, Unauthorized
from .data_actions import DataAction
from .tokens import RejectedToken, TokenValidator

SCHEME = "bearer "


class Authenticator:
    """Checks that a request carries a valid bearer token whose roles grant the route's data action."""

    def __init__(self, validator: TokenValidator, authority: str, audience: str) -> None:
        self._validator = validator
        self._challenge = f'Bearer authorization_uri="{authority}", resource_id="{audience}", realm="{audience}"'

    async def authorize(self, authorization: str | None, action: DataAction) -> None:
        """Returns when the header's token grants ``action``; Unauthorized (401) or Forbidden (403) otherwise."""
        if not authorization or not authorization[: len(SCHEME)].lower() == SCHEME:
            raise Unauthorized(headers={"WWW-Authenticate": self._challenge})
        try:
            caller = await self._validator.caller(authorization[len(SCHEME) :].strip())
        except RejectedToken as exc:
            challenge = f'{self._challenge}, error="invalid_token", error_description="{exc.description}"'
            raise Unauthorized(headers={"WWW-Authenticate": challenge}) from None
        if action not in caller.actions:
            raise Forbidden(AUTHORIZATION_FAILED)
