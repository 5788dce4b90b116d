"""Whether the emulator's own httpx clients (seeding, the pytest plugin, token) check certificates."""

from __future__ import annotations

from urllib.parse import urlsplit


def verifies_certificates(url: str) -> bool:
    """True for an https URL only: a client of a plain-HTTP service then never reads the certificate store,
    which costs tens of milliseconds of CPU each time a client is made."""
    return urlsplit(url).scheme == "https"
