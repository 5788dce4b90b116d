"""Shared fixtures: database URLs (SQLite, and PostgreSQL when reachable) and clients of the app in-process."""

from __future__ import annotations

import base64

import pytest
import pytest_asyncio

from harness.azurite import Azurite, azurite_unavailable_reason

from .support.app import running_app
from .support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database


def pytest_addoption(parser):
    parser.addoption(
        "--blob-store",
        choices=["files", "azurite"],
        default="files",
        help="where the end-to-end tests' servers keep instance files: the data dir, or Azurite's blob service",
    )


OTHER_ACCOUNT = "otheraccount"
"""A storage account of the Azurite blob service besides the development account."""


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


@pytest.fixture(scope="session")
def azurite_blob(tmp_path_factory):
    """Azurite's blob service on a free loopback port, checking API versions as Azurite does by default."""
    reason = azurite_unavailable_reason()
    if reason:
        pytest.skip(reason)
    accounts = {OTHER_ACCOUNT: base64.b64encode(b"another account's key").decode()}
    running = Azurite(tmp_path_factory.mktemp("azurite-blob"), service="blob", accounts=accounts).start()
    yield running
    running.stop()
