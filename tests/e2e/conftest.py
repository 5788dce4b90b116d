"""The real server for the end-to-end tests, on each supported database."""

from __future__ import annotations

import pytest

from harness.server import Server

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
