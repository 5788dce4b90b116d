"""The app in-process behind an httpx client, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest
import pytest_asyncio

from azure_dicom_emulator.app import create_app
from azure_dicom_emulator.settings import Settings

from ..conftest import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database


@asynccontextmanager
async def running_app(**settings):
    """An httpx client talking to a started app (lifespan entered) built from ``settings``."""
    app = create_app(Settings(**settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver:8080") as client:
            client.app = app
            yield client


@pytest_asyncio.fixture(scope="session", params=["sqlite", "postgresql"])
async def client(request, tmp_path_factory):
    """A client of an app on each supported database, shared by the session's tests (they use fresh UIDs)."""
    if request.param == "sqlite":
        async with running_app(data_dir=tmp_path_factory.mktemp("data")) as client:
            yield client
        return
    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    url = create_postgres_database()
    try:
        async with running_app(data_dir=tmp_path_factory.mktemp("data"), database_url=url) as client:
            yield client
    finally:
        drop_postgres_database(url)


@pytest_asyncio.fixture(scope="session")
async def partitioned_client(tmp_path_factory):
    """A client of an app with data partitions enabled."""
    async with running_app(data_dir=tmp_path_factory.mktemp("data"), partitions_enabled=True) as client:
        yield client
