"""The real server for the end-to-end tests, on each supported database."""

from __future__ import annotations

import pytest

from harness.azurite import Azurite, azurite_unavailable_reason
from harness.server import BLOB_ACCOUNT_VARIABLE, Server

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A started server on each supported database, shared by the session's tests."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    running = Server(tmp_path_factory.mktemp("e2e") / "data", url).start()
    yield running
    running.stop()
    if url:
        drop_postgres_database(url)


@pytest.fixture(scope="session", autouse=True)
def blob_store(request, tmp_path_factory):
    """With ``--blob-store azurite``: Azurite's blob service, in whose account every server gets a container."""
    if request.config.getoption("--blob-store") != "azurite":
        yield None
        return
    reason = azurite_unavailable_reason()
    if reason:
        pytest.fail(reason)
    running = Azurite(tmp_path_factory.mktemp("azurite-store"), service="blob").start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BLOB_ACCOUNT_VARIABLE, running.endpoint)
        yield running
    running.stop()
