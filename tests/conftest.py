"""Shared fixtures: database URLs (SQLite, and PostgreSQL when reachable) and clients of the app in-process."""

from __future__ import annotations

import pytest
import pytest_asyncio

from .support.app import running_app
from .support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Each database the emulator supports: SQLite in tmp_path, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    if POSTGRES_SKIP_REASON:
        pytest.skip(POSTGRES_SKIP_REASON)
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


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
