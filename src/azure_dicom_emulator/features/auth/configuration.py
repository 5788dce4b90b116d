"""Which token checks and which issuer a configuration asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...settings import Settings
from .issuer import BuiltInIssuer, issuer_url

if TYPE_CHECKING:
    from .authenticator import Authenticator
    from .tokens import SigningKeys

KEY_FILE = "auth/signing-key.pem"


@dataclass(frozen=True)
class Auth:
    """The authenticator (None while auth is off) and the built-in issuer (None when another issuer is configured)."""

    authenticator: Authenticator | None
    issuer: BuiltInIssuer | None


def auth_from_settings(settings: Settings) -> Auth:
    """The token checks of ``settings``: the configured issuers' keys, else the emulator's own issuer.

    The token checks' modules (PyJWT, cryptography, httpx) load only when a configuration needs them.
    """
    issuer = None
    if settings.auth_issuer:
        from .remote_keys import RemoteKeys

        issuers = settings.auth_issuer
        keys: SigningKeys = RemoteKeys(settings.auth_jwks_url, issuers)
    else:
        issuer = BuiltInIssuer(
            issuer_url(settings.host, settings.port),
            settings.data_dir / KEY_FILE,
            settings.auth_audience,
            settings.auth_managed_identity_role,
        )
        issuers, keys = [issuer.url], issuer
    authenticator = None
    if settings.auth_enabled:
        from .authenticator import Authenticator
        from .tokens import TokenValidator

        validator = TokenValidator(keys, issuers, settings.auth_audience, settings.auth_clock_skew_seconds)
        authenticator = Authenticator(validator, authority=issuers[0], audience=settings.auth_audience[0])
    return Auth(authenticator=authenticator, issuer=issuer)
