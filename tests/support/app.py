"""The app in-process behind an httpx client."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx

from azure_dicom_emulator.app import create_app
from azure_dicom_emulator.settings import Settings


@asynccontextmanager
async def running_app(**settings):
    """An httpx client talking to a started app (lifespan entered) built from ``settings``."""
    app = create_app(Settings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver:8080") as client:
            client.app = app
            yield client
