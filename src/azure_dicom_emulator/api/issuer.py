"""The built-in issuer's routes under ``/emulator/auth``: discovery, keys, tokens, and a managed-identity endpoint."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import BadRequest, NotFound, PayloadTooLarge, ServiceError
from ..features.auth import DEFAULT_LIFETIME_SECONDS, BuiltInIssuer
from .auth import auth_of
from .context import base_url

PATH = "/emulator/auth"
MAX_TOKEN_REQUEST_BYTES = 64 * 1024
MANAGED_IDENTITY_API_VERSION = "2019-08-01"
ISSUER_OFF = "The emulator issues no tokens: DICOM_EMULATOR_AUTH_ISSUER names the issuer in use."


def _issuer(request: Request) -> BuiltInIssuer:
    """The built-in issuer; 404 when another issuer is configured."""
    issuer = auth_of(request).issuer
    if issuer is None:
        raise NotFound(ISSUER_OFF)
    return issuer


async def discovery(request: Request) -> Response:
    """``GET /emulator/auth/.well-known/openid-configuration``: the issuer's OpenID configuration document."""
    return JSONResponse(_issuer(request).discovery_document(base_url(request)))


async def keys(request: Request) -> Response:
    """``GET /emulator/auth/keys``: the issuer's JWKS."""
    return JSONResponse(_issuer(request).jwks())


async def token(request: Request) -> Response:
    """``POST /emulator/auth/token`` with ``{"role": "owner"|"reader", "expires_in": seconds}``: a signed token."""
    issuer = _issuer(request)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TOKEN_REQUEST_BYTES:
            raise PayloadTooLarge(MAX_TOKEN_REQUEST_BYTES)
    try:
        fields = json.loads(body) if body else {}
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise BadRequest("The request body must be a JSON object.")
    issued = issuer.issue(fields.get("role"), fields.get("expires_in", DEFAULT_LIFETIME_SECONDS))
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "expires_on": issued.expires_on,
        }
    )


async def managed_identity(request: Request) -> Response:
    """``GET /emulator/auth/identity?resource=...&api-version=2019-08-01``: App Service's managed-identity answer.

    Errors are App Service's JSON ``{"statusCode", "message"}``, which ``azure-identity`` reports.
    """
    try:
        issuer = _issuer(request)
        if not request.headers.get("x-identity-header"):
            raise BadRequest("The X-IDENTITY-HEADER header is required.")
        if request.query_params.get("api-version") != MANAGED_IDENTITY_API_VERSION:
            raise BadRequest(f"The api-version must be {MANAGED_IDENTITY_API_VERSION}.")
        resource = request.query_params.get("resource")
        if not resource:
            raise BadRequest("The resource parameter is required.")
        issued = issuer.managed_identity_token(resource)
    except ServiceError as exc:
        return JSONResponse({"statusCode": exc.status, "message": exc.message}, status_code=exc.status)
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "expires_on": str(issued.expires_on),
            "resource": issued.audience,
            "token_type": "Bearer",
        }
    )


def routes() -> list[BaseRoute]:
    """The issuer's routes; they are anonymous."""
    return [
        Route(f"{PATH}/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route(f"{PATH}/keys", keys, methods=["GET"]),
        Route(f"{PATH}/token", token, methods=["POST"]),
        Route(f"{PATH}/identity", managed_identity, methods=["GET"]),
    ]
