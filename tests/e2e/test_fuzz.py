"""Property-based fuzzing of the real server, on SQLite and PostgreSQL: hostile uploads, URLs, searches, JSON
bodies and change feed parameters never get a 5xx, and afterwards the server holds exactly what it acknowledged
(bench/fuzz.py runs the same cases by the ten thousand)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fuzz_cases import (
    change_feed_requests,
    json_requests,
    read_requests,
    search_requests,
    stow_requests,
)
from harness.fuzz_oracle import Ledger
from harness.server import Server

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ledger(request, tmp_path_factory):
    """A server of its own (the fuzzer adds tags and odd data), and the ledger of what it acknowledged."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    server = Server(data_dir, url).start()
    ledger = Ledger(server.url, data_dir / "blobs")
    try:
        yield ledger
    finally:
        ledger.close()
        server.stop()
        if url:
            drop_postgres_database(url)


def test_mutated_uploads_never_get_a_5xx_and_leave_nothing_when_refused(ledger):
    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(stow_requests())
    def upload(request):
        ledger.send(request)

    upload()
    assert ledger.server_errors == []
    assert ledger.acknowledged, "no upload was stored: the cases test too little"
    assert ledger.mismatches() == []


def test_reads_with_odd_uids_frames_and_accept_headers_never_get_a_5xx(ledger):
    @settings(FUZZ_SETTINGS, max_examples=80)
    @given(st.data())
    def read(data):
        ledger.send(data.draw(read_requests(ledger.known_uids())))

    read()
    assert ledger.server_errors == []
    assert ledger.mismatches() == []


def test_searches_json_bodies_and_change_feed_parameters_never_get_a_5xx(ledger):
    @settings(FUZZ_SETTINGS, max_examples=60)
    @given(st.one_of(search_requests(), json_requests(), change_feed_requests()))
    def ask(request):
        ledger.send(request)

    ask()
    assert ledger.server_errors == []
    assert ledger.mismatches() == []
