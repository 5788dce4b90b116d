"""An issuer's signing keys, read from its JWKS (named directly or found through OpenID discovery)."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from ...settings import is_https_or_loopback

log = logging.getLogger(__name__)

REFETCH_INTERVAL_SECONDS = 60.0
"""An unknown ``kid`` fetches the keys again at most this often."""
RETRY_INTERVAL_SECONDS = 5.0
"""While no keys could be fetched yet, attempts are at least this far apart."""
FETCH_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 1024 * 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"


class RemoteKeys:
    """The RSA keys of a JWKS by ``kid``, fetched on first use and again when a token names an unknown ``kid``."""

    def __init__(self, jwks_url: str | None, issuers: list[str]) -> None:
        self._jwks_urls = [jwks_url] if jwks_url else None
        self._issuers = issuers
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched = False
        self._last_attempt = -float("inf")
        self._last_refetch = -float("inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> RSAPublicKey | None:
        """The key named ``kid``, or None when the issuer publishes none by that name."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is None and self._take_fetch_turn():
                await self._fetch()
                key = self._keys.get(kid)
        return key

    def _take_fetch_turn(self) -> bool:
        """Whether a fetch may happen now (first use, a retry after a failure, or the minute's one refetch)."""
        now = time.monotonic()
        if not self._fetched:
            return now - self._last_attempt >= RETRY_INTERVAL_SECONDS
        if now - self._last_refetch < REFETCH_INTERVAL_SECONDS:
            return False
        self._last_refetch = now
        return True

    async def _fetch(self) -> None:
        """Replaces the keys by the ones published now; on failure the old ones stay."""
        self._last_attempt = time.monotonic()
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as http:
                if self._jwks_urls is None:
                    self._jwks_urls = [await _discovered_jwks_url(http, issuer) for issuer in self._issuers]
                keys: dict[str, RSAPublicKey] = {}
                for url in self._jwks_urls:
                    keys.update(_rsa_keys(await _document(http, url)))
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("cannot fetch the token signing keys: %s", exc)
            return
        self._keys = keys
        self._fetched = True


async def _document(http: httpx.AsyncClient, url: str) -> dict:
    """The JSON object at ``url``; ValueError for anything else."""
    response = await http.get(url)
    response.raise_for_status()
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError(f"{url} answered no JSON object")
    return document


async def _discovered_jwks_url(http: httpx.AsyncClient, issuer: str) -> str:
    """The ``jwks_uri`` of ``issuer``'s OpenID configuration document."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    jwks_uri = (await _document(http, url)).get("jwks_uri")
    if not isinstance(jwks_uri, str) or not is_https_or_loopback(jwks_uri):
        raise ValueError(f"{url} names no https (or loopback) jwks_uri")
    return jwks_uri


def _rsa_keys(jwks: dict) -> dict[str, RSAPublicKey]:
    """The RSA public keys of a JWKS document, by ``kid``; keys of other types or without ``kid`` are left out."""
    keys = {}
    for jwk in jwt.PyJWKSet.from_dict(jwks).keys:
        if isinstance(jwk.key_id, str) and isinstance(jwk.key, RSAPublicKey):
            keys[jwk.key_id] = jwk.key
    return keys
