"""An Entra-like token issuer for the tests: RSA keys, a JWKS and a discovery document on loopback, and tokens."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.loopback import free_port

AUDIENCE = "https://dicom.healthcareapis.azure.com"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 2048-bit key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class IdentityProvider:
    """Serves ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/keys``, counting requests for the keys.

    ``keys`` maps each published ``kid`` to its private key; tests may add or replace keys while it runs.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.keys: dict[str, rsa.RSAPrivateKey] = {"key-1": new_key()}
        self.key_requests = 0
        self.discovery_requests = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/{TENANT}/v2.0"

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/keys"

    def jwks(self) -> dict:
        keys = []
        for kid, key in self.keys.items():
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig"})
        return {"keys": keys}

    def start(self) -> IdentityProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if self.path == "/keys":
                    with provider.lock:
                        provider.key_requests += 1
                    self._json(provider.jwks())
                elif self.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
                    with provider.lock:
                        provider.discovery_requests += 1
                    self._json({"issuer": provider.issuer, "jwks_uri": provider.jwks_url})
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _json(self, document: dict) -> None:
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def claims(self, roles: list[str] | None = None, **overrides) -> dict:
        """A valid token's claims for the DICOM audience, changed by ``overrides`` (a None value drops a claim)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "sub": "test-subject",
            "oid": str(uuid.uuid4()),
            "tid": TENANT,
            "roles": ["DicomDataOwner"] if roles is None else roles,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        roles: list[str] | None = None,
        kid: str = "key-1",
        key: rsa.RSAPrivateKey | None = None,
        algorithm: str = "RS256",
        **overrides,
    ) -> str:
        """A token signed with the published key ``kid`` (or ``key``, under that ``kid``)."""
        signing_key = key or self.keys[kid]
        return jwt.encode(self.claims(roles, **overrides), signing_key, algorithm=algorithm, headers={"kid": kid})
