"""Settings read from DICOM_EMULATOR_* variables: lists, and the rules of the auth settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from azure_dicom_emulator.settings import Settings


def test_lists_are_read_comma_separated_or_as_json(monkeypatch):
    monkeypatch.setenv("DICOM_EMULATOR_CORS_ORIGINS", "http://a.example, http://b.example")
    monkeypatch.setenv("DICOM_EMULATOR_AUTH_AUDIENCE", '["api://one", "api://two"]')
    settings = Settings()
    assert settings.cors_origins == ["http://a.example", "http://b.example"]
    assert settings.auth_audience == ["api://one", "api://two"]


def test_auth_is_off_by_default_and_the_audience_is_azures():
    settings = Settings()
    assert not settings.auth_enabled and settings.auth_issuer == [] and settings.auth_jwks_url is None
    assert settings.auth_audience == ["https://dicom.healthcareapis.azure.com"]
    assert settings.auth_clock_skew_seconds == 60


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_issuer": "http://login.example/tenant/v2.0"},
        {"auth_issuer": "https://login.example/t", "auth_jwks_url": "http://keys.example/keys"},
        {"auth_issuer": "ftp://127.0.0.1/t"},
        {"auth_jwks_url": "http://127.0.0.1:1/keys"},
        {"auth_clock_skew_seconds": 301},
        {"auth_audience": ""},
    ],
)
def test_keys_over_plain_http_off_loopback_a_jwks_url_without_issuer_and_a_long_skew_are_refused(fields):
    with pytest.raises(ValidationError):
        Settings(**fields)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/t/v2.0", "http://localhost/t", "http://[::1]:8/t", "https://login.example/t/"]
)
def test_keys_over_https_or_loopback_http_are_accepted(url):
    assert Settings(auth_issuer=url).auth_issuer == [url]
