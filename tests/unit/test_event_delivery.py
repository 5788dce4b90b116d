"""The delivery process's own set-up: what it logs, and how its queue client talks to the service."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
from aiohttp import web

from azure_dicom_emulator.features.events.delivery import AZURE_HTTP_LOGGER, configure_logging
from azure_dicom_emulator.features.events.storage_queue_target import StorageQueueTarget
from azure_dicom_emulator.features.events.target import DeliveryFailed
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


class QueueService:
    """A stand-in for a storage queue service (or a proxy to one): takes every request and records its target.

    Messages whose event ``id`` is in ``refused`` get a 500 at once; those in ``slow`` are answered after that many
    seconds.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.seen: list[str] = []
        self.messages: list[str] = []  # the event ids of the messages taken, in the order they were taken
        self.refused: set[str] = set()
        self.slow: dict[str, float] = {}

    async def answer(self, request: web.Request) -> web.Response:
        self.seen.append(str(request.url) if request.method != "CONNECT" else request.path_qs)
        if request.method != "POST":
            return web.Response(status=201)
        text = ElementTree.fromstring(await request.read()).findtext("MessageText")
        event_id = json.loads(base64.b64decode(text))["id"]
        await asyncio.sleep(self.slow.get(event_id, 0))
        if event_id in self.refused:
            headers = {"x-ms-error-code": "InternalError"}
            return web.Response(status=500, reason="Internal Server Error", headers=headers)
        self.messages.append(event_id)
        return web.Response(status=201, body=SENT, content_type="application/xml")


@pytest.fixture
async def queue_service():
    service = QueueService()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", service.port).start()
    yield service
    await runner.cleanup()


def queue_target(endpoint: str, **options) -> StorageQueueTarget:
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};QueueEndpoint={endpoint};"
    )
    config = {"type": "azure-storage-queue", "connection_string": connection_string, "queue_name": "events", **options}
    return StorageQueueTarget(StorageQueueSink(**config))


async def test_a_netrc_entry_for_the_queue_host_does_not_break_signed_requests(queue_service, monkeypatch, tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    target = queue_target(f"http://127.0.0.1:{queue_service.port}/devstoreaccount1")
    try:
        await target.deliver([{"id": "1"}, {"id": "2"}], 0)
    finally:
        await target.close()
    assert len(queue_service.seen) == 3  # the queue created, then two messages


async def test_the_queue_is_reached_through_a_proxy_from_the_environment(queue_service, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{queue_service.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = queue_target("http://queue.invalid/devstoreaccount1")
    try:
        await target.deliver([{"id": "1"}], 0)
    finally:
        await target.close()
    assert [url.split("?")[0] for url in queue_service.seen] == [
        "http://queue.invalid/devstoreaccount1/events",
        "http://queue.invalid/devstoreaccount1/events/messages",
    ]


async def test_messages_are_sent_with_a_signature_that_only_adds_messages(queue_service):
    target = queue_target(f"http://127.0.0.1:{queue_service.port}/devstoreaccount1")
    try:
        await target.deliver([{"id": "1"}], 0)
    finally:
        await target.close()
    sent = urlsplit(queue_service.seen[-1])
    assert sent.path == "/devstoreaccount1/events/messages"
    assert parse_qs(sent.query)["sp"] == ["a"] and "sig" in parse_qs(sent.query)
    assert queue_service.messages == ["1"]


async def test_a_refused_message_counts_the_messages_before_it_as_delivered_whatever_order_they_finish_in(
    queue_service,
):
    queue_service.slow, queue_service.refused = {"1": 0.4, "2": 0.1}, {"3"}
    target = queue_target(f"http://127.0.0.1:{queue_service.port}/devstoreaccount1", max_concurrent_messages=3)
    try:
        with pytest.raises(DeliveryFailed) as failure:
            await target.deliver([{"id": str(number)} for number in range(1, 6)], 0)
    finally:
        await target.close()
    assert queue_service.messages == ["2", "1"]  # the first was the last to be taken; none started after the refusal
    assert failure.value.delivered == 2
    assert failure.value.status == 500 and failure.value.retryable
    assert failure.value.message == "queue 'events': Internal Server Error (InternalError)"


async def test_an_unreachable_queue_service_is_a_retryable_failure_with_nothing_delivered():
    target = queue_target(f"http://127.0.0.1:{free_port()}/devstoreaccount1")
    try:
        with pytest.raises(DeliveryFailed) as failure:
            await target.deliver([{"id": "1"}], 0)
    finally:
        await target.close()
    assert failure.value.retryable and failure.value.delivered == 0
    assert failure.value.message.startswith("queue 'events': ")
