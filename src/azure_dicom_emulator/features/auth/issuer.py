"""The emulator's own token issuer: tokens signed with its key, its discovery document and its JWKS.

PyJWT and cryptography load with the first key or token asked for: a server that issues none never holds them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import BadRequest
from .audiences import accepted_audiences

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

PATH = "/emulator/auth"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
ROLE_CLAIMS = {"owner": "DicomDataOwner", "reader": "DicomDataReader"}
DEFAULT_LIFETIME_SECONDS = 3600
MAX_LIFETIME_SECONDS = 24 * 3600
ROLE_MESSAGE = "The role must be one of: " + ", ".join(ROLE_CLAIMS) + "."
LIFETIME_MESSAGE = f"The lifetime must be a whole number of seconds from 1 to {MAX_LIFETIME_SECONDS}."


@dataclass(frozen=True)
class IssuedToken:
    """A signed token, the audience it was issued for, its lifetime and when it expires (seconds since the epoch)."""

    access_token: str
    audience: str
    expires_in: int
    expires_on: int


class BuiltInIssuer:
    """Signs tokens that the emulator's own validation accepts; its key lives at ``key_path``."""

    def __init__(self, url: str, key_path: Path, audiences: list[str], managed_identity_role: str) -> None:
        self.url = url
        self._key_path = key_path
        self._audiences = audiences
        self._managed_identity_role = managed_identity_role

    @cached_property
    def _private_key(self) -> RSAPrivateKey:
        from . import signing_key

        return signing_key.load_or_create(self._key_path)

    @cached_property
    def _public_jwk(self) -> dict:
        import jwt

        public = jwt.algorithms.RSAAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)
        members = {"e": public["e"], "kty": "RSA", "n": public["n"]}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
        return {**members, "kid": thumbprint, "use": "sig", "alg": "RS256"}

    async def key(self, kid: str) -> RSAPublicKey | None:
        """The issuer's public key when ``kid`` names it (its RFC 7638 thumbprint), else None."""
        return self._private_key.public_key() if kid == self._public_jwk["kid"] else None

    def issue(
        self, role: object, lifetime_seconds: object = DEFAULT_LIFETIME_SECONDS, audience: str | None = None
    ) -> IssuedToken:
        """A token with ``role``'s roles claim for ``audience`` (the first configured one by default).

        BadRequest for an unknown role, a lifetime outside 1 s to a day, or an audience the service does not accept.
        """
        if not isinstance(role, str) or role not in ROLE_CLAIMS:
            raise BadRequest(ROLE_MESSAGE)
        if type(lifetime_seconds) is not int or not 1 <= lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise BadRequest(LIFETIME_MESSAGE)
        audience = audience or self._audiences[0]
        if audience not in accepted_audiences(self._audiences):
            raise BadRequest(f"The resource must be one of: {', '.join(self._audiences)}.")
        now = int(time.time())
        principal = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.url}/{role}"))
        claims = {
            "iss": self.url,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_seconds,
            "sub": principal,
            "oid": principal,
            "tid": TENANT_ID,
            "roles": [ROLE_CLAIMS[role]],
        }
        import jwt

        token = jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self._public_jwk["kid"]})
        return IssuedToken(access_token=token, audience=audience, expires_in=lifetime_seconds, expires_on=claims["exp"])

    def managed_identity_token(self, resource: str) -> IssuedToken:
        """A token for ``resource`` with the managed identity's role; BadRequest for a resource not served here."""
        return self.issue(self._managed_identity_role, DEFAULT_LIFETIME_SECONDS, audience=resource)

    def discovery_document(self, base_url: str) -> dict:
        """The OpenID configuration document, with endpoints under ``base_url`` as the client reached us."""
        return {
            "issuer": self.url,
            "jwks_uri": f"{base_url}{PATH}/keys",
            "token_endpoint": f"{base_url}{PATH}/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def jwks(self) -> dict:
        """The JWKS: the one public key."""
        return {"keys": [self._public_jwk]}


def issuer_url(host: str, port: int) -> str:
    """The built-in issuer's identifier: its base URL on the configured address (loopback for a wildcard)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{PATH}"
