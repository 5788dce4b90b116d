"""Where the server finds the issuer's keys, and how seldom it asks for them: discovery, a JWKS URL, rotation."""

from __future__ import annotations

import httpx
import pytest
from pydicom.uid import generate_uid

from harness.server import Server

from ..support.identity_provider import TENANT, IdentityProvider, new_key

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider():
    running = IdentityProvider().start()
    yield running
    running.stop()


def started(tmp_path, **env: str) -> Server:
    return Server(tmp_path / "data", **{"DICOM_EMULATOR_AUTH_ENABLED": "true", **env}).start()


def status(server: Server, token: str) -> int:
    """The status of a search that matches nothing (204 once authorized) with ``token``."""
    url = f"{server.url}/v2/studies?StudyInstanceUID={generate_uid()}"
    return httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code


def test_keys_are_found_through_discovery_once_and_unknown_kids_do_not_hammer_the_jwks_host(tmp_path, provider):
    server = started(tmp_path, DICOM_EMULATOR_AUTH_ISSUER=provider.issuer)
    try:
        token = provider.token()
        assert status(server, token) == 204
        assert (provider.discovery_requests, provider.key_requests) == (1, 1)
        for attempt in range(20):
            stranger = provider.token(kid=f"unknown-{attempt}", key=new_key())
            assert status(server, stranger) == 401
        assert provider.key_requests == 2  # one refetch for the first unknown kid, none for the others
        for _ in range(10):
            assert status(server, token) == 204
        assert (provider.discovery_requests, provider.key_requests) == (1, 2)
    finally:
        server.stop()


def test_a_key_published_after_start_up_is_fetched_once_when_a_token_names_it(tmp_path, provider):
    server = started(tmp_path, DICOM_EMULATOR_AUTH_ISSUER=provider.issuer)
    try:
        assert status(server, provider.token()) == 204
        provider.keys["key-2"] = new_key()
        assert status(server, provider.token(kid="key-2")) == 204
        assert provider.key_requests == 2
        # A second new key within the minute waits for the next refetch: at most one a minute.
        provider.keys["key-3"] = new_key()
        assert status(server, provider.token(kid="key-3")) == 401
        assert provider.key_requests == 2
        assert status(server, provider.token(kid="key-2")) == 204
    finally:
        server.stop()


def test_a_configured_jwks_url_is_used_without_discovery_and_several_issuers_are_accepted(tmp_path, provider):
    v1_issuer = f"https://sts.windows.net/{TENANT}/"
    server = started(
        tmp_path,
        DICOM_EMULATOR_AUTH_ISSUER=f"{v1_issuer},{provider.issuer}",
        DICOM_EMULATOR_AUTH_JWKS_URL=provider.jwks_url,
    )
    try:
        assert status(server, provider.token(iss=v1_issuer)) == 204
        assert status(server, provider.token()) == 204
        assert status(server, provider.token(iss="https://evil.example.invalid/")) == 401
        assert (provider.discovery_requests, provider.key_requests) == (0, 1)
    finally:
        server.stop()


def test_several_audiences_may_be_configured(tmp_path, provider):
    audiences = "https://dicom.healthcareapis.azure.com,api://my-dicom-app/"
    server = started(tmp_path, DICOM_EMULATOR_AUTH_ISSUER=provider.issuer, DICOM_EMULATOR_AUTH_AUDIENCE=audiences)
    try:
        assert status(server, provider.token(aud="api://my-dicom-app")) == 204
        assert status(server, provider.token()) == 204
        assert status(server, provider.token(aud="https://management.azure.com")) == 401
        challenge = httpx.get(f"{server.url}/v2/studies").headers["www-authenticate"]
        assert 'resource_id="https://dicom.healthcareapis.azure.com"' in challenge
    finally:
        server.stop()


def test_an_unreachable_jwks_host_gives_401_not_500(tmp_path, provider):
    server = started(tmp_path, DICOM_EMULATOR_AUTH_ISSUER=provider.issuer)
    try:
        provider.stop()
        assert status(server, provider.token()) == 401
    finally:
        server.stop()
