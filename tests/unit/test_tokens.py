"""The token validator: what it accepts, and the cache of valid tokens (expiry respected, bounded)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from azure_dicom_emulator.features.auth import tokens
from azure_dicom_emulator.features.auth.data_actions import DataAction
from azure_dicom_emulator.features.auth.tokens import RejectedToken, TokenValidator

ISSUER = "https://login.microsoftonline.com/tenant/v2.0"
AUDIENCE = "https://dicom.healthcareapis.azure.com"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Keys:
    """One key, counting lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def key(self, kid: str):
        self.lookups += 1
        return KEY.public_key() if kid == "k" else None


def token(**overrides) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 60, "roles": ["DicomDataReader"]}
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}  # None drops a claim
    return jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k"})


async def test_a_valid_token_is_checked_once_and_then_served_from_the_cache():
    keys = Keys()
    validator = TokenValidator(keys, [ISSUER], [AUDIENCE], leeway_seconds=0)
    valid = token()
    assert (await validator.caller(valid)).actions == {DataAction.READ}
    assert (await validator.caller(valid)).actions == {DataAction.READ}
    assert keys.lookups == 1


async def test_a_cached_token_is_refused_once_it_expires(monkeypatch):
    validator = TokenValidator(Keys(), [ISSUER], [AUDIENCE], leeway_seconds=30)
    valid = token()
    await validator.caller(valid)
    now = time.time()
    monkeypatch.setattr(tokens.time, "time", lambda: now + 60 + 31)
    with pytest.raises(RejectedToken, match="The token is expired."):
        await validator.caller(valid)


async def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(tokens, "CACHE_CAPACITY", 3)
    keys = Keys()
    validator = TokenValidator(keys, [ISSUER], [AUDIENCE], leeway_seconds=0)
    valid = [token(sub=str(n)) for n in range(5)]
    for one in valid:
        await validator.caller(one)
    assert len(validator._valid) == 3
    await validator.caller(valid[0])  # evicted: checked again
    assert keys.lookups == 6


async def test_the_leeway_accepts_a_token_that_expired_within_it_and_no_more():
    validator = TokenValidator(Keys(), [ISSUER], [AUDIENCE], leeway_seconds=60)
    now = int(time.time())
    await validator.caller(token(exp=now - 30))
    with pytest.raises(RejectedToken, match="The token is expired."):
        await validator.caller(token(exp=now - 90))
    with pytest.raises(RejectedToken, match="The token is not valid yet."):
        await validator.caller(token(nbf=now + 90))


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"aud": "https://management.azure.com"}, "The audience is invalid."),
        ({"iss": "https://evil.example.invalid/"}, "The issuer is invalid."),
        ({"exp": None}, "The token has no 'exp' claim."),
        ({"exp": "soon"}, "The token is malformed."),
    ],
)
async def test_each_refusal_says_why(overrides, description):
    validator = TokenValidator(Keys(), [ISSUER], [AUDIENCE], leeway_seconds=0)
    with pytest.raises(RejectedToken) as refused:
        await validator.caller(token(**overrides))
    assert refused.value.description == description


async def test_a_token_longer_than_16_kib_is_refused_before_anything_else():
    keys = Keys()
    validator = TokenValidator(keys, [ISSUER], [AUDIENCE], leeway_seconds=0)
    with pytest.raises(RejectedToken, match="too long"):
        await validator.caller(token(padding="x" * 20000))
    assert keys.lookups == 0


@pytest.mark.parametrize("kid", [7, ["k"], {"k": 1}, None])
async def test_a_kid_that_is_missing_or_no_string_is_refused(kid):
    header = {"alg": "RS256", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    forged = encoded + "." + token().split(".", 1)[1]
    keys = Keys()
    with pytest.raises(RejectedToken):
        await TokenValidator(keys, [ISSUER], [AUDIENCE], leeway_seconds=0).caller(forged)
    assert keys.lookups == 0
