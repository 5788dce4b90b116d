"""Bearer tokens checked as Azure's JwtBearer checks them: signature, issuer, audience and lifetime."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from .audiences import accepted_audiences
from .data_actions import DataAction, granted_actions

ALGORITHMS = ("RS256", "RS384", "RS512")
MAX_TOKEN_CHARS = 16 * 1024
CACHE_CAPACITY = 4096


class RejectedToken(Exception):
    """A token that proves nothing; ``description`` says why, in the words of ``error_description``."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class SigningKeys(Protocol):
    """Where a validator finds the key that signed a token."""

    async def key(self, kid: str) -> RSAPublicKey | None:
        """The issuer's key named ``kid``, or None."""
        ...


@dataclass(frozen=True)
class Caller:
    """Who a valid token speaks for, as far as the service cares: what it may do, and until when."""

    actions: frozenset[DataAction]
    expires_at: float


class TokenValidator:
    """Checks tokens against the configured issuers and audiences; a valid token is remembered until it expires."""

    def __init__(self, keys: SigningKeys, issuers: list[str], audiences: Iterable[str], leeway_seconds: int) -> None:
        self._keys = keys
        self._issuers = issuers
        self._audiences = accepted_audiences(audiences)
        self._leeway = leeway_seconds
        self._valid: dict[str, Caller] = {}

    async def caller(self, token: str) -> Caller:
        """The caller ``token`` speaks for; RejectedToken when it is malformed, unsigned, foreign or out of date."""
        remembered = self._valid.get(token)
        if remembered is not None:
            if time.time() <= remembered.expires_at:
                return remembered
            del self._valid[token]
            raise RejectedToken("The token is expired.")
        claims = await self._verified_claims(token)
        roles = claims.get("roles")
        caller = Caller(
            actions=granted_actions(roles if isinstance(roles, list) else ()),
            expires_at=int(claims["exp"]) + self._leeway,
        )
        if len(self._valid) >= CACHE_CAPACITY:
            del self._valid[next(iter(self._valid))]
        self._valid[token] = caller
        return caller

    async def _verified_claims(self, token: str) -> dict:
        """The claims of ``token`` once its signature, issuer, audience and lifetime hold."""
        if len(token) > MAX_TOKEN_CHARS:
            raise RejectedToken("The token is too long.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise RejectedToken("The token is malformed.") from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise RejectedToken("The token's signing algorithm is not accepted.")
        if not isinstance(kid, str):
            raise RejectedToken("The token names no signing key.")
        key = await self._keys.key(kid)
        if key is None:
            raise RejectedToken("The signature key was not found.")
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audiences,
                issuer=self._issuers,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise RejectedToken(_description(exc)) from exc


def _description(exc: jwt.PyJWTError) -> str:
    """Why PyJWT refused a token, in the words of ``error_description``."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The token is expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The token is not valid yet."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "The audience is invalid."
    if isinstance(exc, jwt.InvalidIssuerError):
        return "The issuer is invalid."
    if isinstance(exc, jwt.InvalidSignatureError):
        return "The signature is invalid."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token has no '{exc.claim}' claim."
    return "The token is malformed."
