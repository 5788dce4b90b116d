"""The delivery process's own set-up: what it logs, and how its queue client talks to the service."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web

from azure_dicom_emulator.features.events.delivery import AZURE_HTTP_LOGGER, configure_logging
from azure_dicom_emulator.features.events.storage_queue_target import StorageQueueTarget
from azure_dicom_emulator.settings.event_sinks import StorageQueueSink
from harness.azurite import AZURITE_KEY
from harness.loopback import free_port


@pytest.fixture
def azure_http_logger():
    logger, root = logging.getLogger(AZURE_HTTP_LOGGER), logging.getLogger()
    levels = logger.level, root.level
    yield logger
    logger.setLevel(levels[0])
    root.setLevel(levels[1])


@pytest.mark.parametrize("log_level", ["info", "warning"])
def test_the_storage_sdks_request_lines_are_quiet_below_debug(azure_http_logger, log_level):
    configure_logging(log_level)
    assert not azure_http_logger.isEnabledFor(logging.INFO)


def test_the_storage_sdks_request_lines_show_at_debug(azure_http_logger):
    configure_logging("debug")
    logging.getLogger().setLevel(logging.DEBUG)  # as basicConfig does when nothing configured logging before
    assert azure_http_logger.isEnabledFor(logging.INFO)


SENT = (
    b'<?xml version="1.0" encoding="utf-8"?><QueueMessagesList><QueueMessage><MessageId>m</MessageId>'
    b"<InsertionTime>Mon, 23 Nov 2026 18:00:00 GMT</InsertionTime><ExpirationTime>Mon, 30 Nov 2026 18:00:00 GMT"
    b"</ExpirationTime><PopReceipt>r</PopReceipt><TimeNextVisible>Mon, 23 Nov 2026 18:00:00 GMT</TimeNextVisible>"
    b"</QueueMessage></QueueMessagesList>"
)


@pytest.fixture
async def queue_service():
    """A stand-in for a storage queue service (or a proxy to one): takes every request, records its target."""
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(str(request.url) if request.method != "CONNECT" else request.path_qs)
        if request.method == "POST":
            return web.Response(status=201, body=SENT, content_type="application/xml")
        return web.Response(status=201)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port, seen
    await runner.cleanup()


def queue_target(endpoint: str) -> StorageQueueTarget:
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};QueueEndpoint={endpoint};"
    )
    config = {"type": "azure-storage-queue", "connection_string": connection_string, "queue_name": "events"}
    return StorageQueueTarget(StorageQueueSink(**config))


async def test_a_netrc_entry_for_the_queue_host_does_not_break_signed_requests(queue_service, monkeypatch, tmp_path):
    port, seen = queue_service
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    target = queue_target(f"http://127.0.0.1:{port}/devstoreaccount1")
    try:
        await target.deliver([{"id": "1"}, {"id": "2"}], 0)
    finally:
        await target.close()
    assert len(seen) == 3  # the queue created, then two messages


async def test_the_queue_is_reached_through_a_proxy_from_the_environment(queue_service, monkeypatch):
    port, seen = queue_service
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = queue_target("http://queue.invalid/devstoreaccount1")
    try:
        await target.deliver([{"id": "1"}], 0)
    finally:
        await target.close()
    assert [url.split("?")[0] for url in seen] == [
        "http://queue.invalid/devstoreaccount1/events",
        "http://queue.invalid/devstoreaccount1/events/messages",
    ]
