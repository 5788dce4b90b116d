"""Event delivery (spec §12): webhooks with their handshakes, retries, dead letters, the file sink and the inspector."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app
from ..support.events import QueueStandIn, Receiver, sequence_numbers

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
FAST_RETRIES = {"retry_initial_seconds": 0.02, "retry_max_seconds": 0.1}


async def eventually(condition, timeout: float = 30.0, what: str = "condition"):
    """Waits (without blocking the app's loop) until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        await asyncio.sleep(0.02)


async def store(client, *datasets):
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
    assert response.status_code == 200, response.text


async def feed(client) -> list[dict]:
    return (await client.get("/v1/changefeed", params={"limit": 100, "includeMetadata": "false"})).json()


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


async def test_webhook_gets_every_event_in_order_after_the_validation_handshake(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url, "name": "hook"}
    async with running_app(data_dir=tmp_path, database_url=database_url, events=[sink]) as client:
        datasets = [make_dataset() for _ in range(4)]
        await store(client, *datasets[:2])
        await store(client, *datasets[2:])
        first = datasets[0]
        path = f"/v2/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}"
        assert (await client.delete(path)).status_code == 204
        await eventually(lambda: len(receiver.received()) == 5, what="five deliveries")
        entries = await feed(client)
    events = receiver.received()
    assert sequence_numbers(events) == [entry["sequence"] for entry in entries]
    assert [EventGridEvent.from_dict(event).event_type.rsplit(".", 1)[1] for event in events] == [
        "DicomImageCreated"
    ] * 4 + ["DicomImageDeleted"]
    assert [event["data"]["imageSopInstanceUid"] for event in events] == [
        *(ds.SOPInstanceUID for ds in datasets),
        first.SOPInstanceUID,
    ]
    validations = receiver.validation_requests()
    assert len(validations) == 1
    method, headers, body = validations[0]
    assert method == "POST" and body[0]["eventType"] == "Microsoft.EventGrid.SubscriptionValidationEvent"
    assert receiver.requests[0] == validations[0]  # the handshake comes before any event
    notifications = [request for request in receiver.requests if request[1].get("aeg-event-type") == "Notification"]
    assert all(isinstance(body, list) and len(body) == 1 for _, _, body in notifications)
    assert notifications[0][1]["aeg-subscription-name"] == "HOOK"
    assert notifications[0][1]["content-type"] == "application/json"


async def test_cloudevents_webhook_does_the_options_handshake_and_gets_batches(tmp_path, receiver):
    sink = {"type": "webhook", "url": receiver.url, "schema": "cloudevents", "max_events_per_batch": 3}
    async with running_app(data_dir=tmp_path, events=[sink]) as client:
        await store(client, *(make_dataset() for _ in range(5)))
        await eventually(lambda: len(receiver.received()) == 5, what="five deliveries")
        entries = await feed(client)
    events = receiver.received()
    assert [CloudEvent.from_dict(event).data["sequenceNumber"] for event in events] == [e["sequence"] for e in entries]
    assert all(event["specversion"] == "1.0" for event in events)
    method, headers, _ = receiver.requests[0]
    assert (method, headers["WebHook-Request-Origin"]) == ("OPTIONS", "eventgrid.azure.net")
    posts = [request for request in receiver.requests if request[0] == "POST"]
    content_types = {headers["content-type"] for _, headers, _ in posts}
    assert "application/cloudevents-batch+json; charset=utf-8" in content_types
    assert sum(len(body) if isinstance(body, list) else 1 for _, _, body in posts) == 5


async def test_event_grid_webhook_gets_arrays_of_up_to_max_events_per_batch(tmp_path, receiver):
    sink = {"type": "webhook", "url": receiver.url, "max_events_per_batch": 3}
    async with running_app(data_dir=tmp_path, events=[sink]) as client:
        await store(client, *(make_dataset() for _ in range(5)))
        await eventually(lambda: len(receiver.received()) == 5, what="five deliveries")
        entries = await feed(client)
    events = receiver.received()
    assert [event["data"]["sequenceNumber"] for event in events] == [entry["sequence"] for entry in entries]
    notifications = [request for request in receiver.requests if request[1].get("aeg-event-type") == "Notification"]
    assert all(isinstance(body, list) and 1 <= len(body) <= 3 for _, _, body in notifications)
    assert any(len(body) > 1 for _, _, body in notifications)


async def test_failing_events_are_dead_lettered_after_the_configured_attempts(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url, "name": "flaky", "max_attempts": 3, **FAST_RETRIES}
    async with running_app(data_dir=tmp_path, database_url=database_url, events=[sink]) as client:
        receiver.status = 500
        lost = make_dataset()
        await store(client, lost)
        letters: list = []

        async def dead_letters() -> list:
            return (await client.get("/emulator/events/deadletters", params={"sink": "flaky"})).json()

        deadline = time.monotonic() + 30
        while not letters and time.monotonic() < deadline:
            letters = await dead_letters()
            await asyncio.sleep(0.05)
        assert len(letters) == 1
        letter = letters[0]
        assert letter["data"]["imageSopInstanceUid"] == lost.SOPInstanceUID
        assert (letter["deadLetterReason"], letter["deliveryAttempts"]) == ("MaxDeliveryAttemptsExceeded", 3)
        assert (letter["lastHttpStatusCode"], letter["lastDeliveryOutcome"]) == (500, "endpoint answered 500")
        assert EventGridEvent.from_dict({k: v for k, v in letter.items() if k in EVENT_KEYS}).data == letter["data"]
        tried = [r for r in receiver.requests if r[1].get("aeg-event-type") == "Notification"]
        assert [r[1]["aeg-delivery-count"] for r in tried] == ["0", "1", "2"]

        receiver.status = 200
        later = make_dataset()
        await store(client, later)
        await eventually(lambda: len(receiver.received()) == 1, what="the next event")
        assert receiver.received()[0]["data"]["imageSopInstanceUid"] == later.SOPInstanceUID
        delivered = receiver.received()[0]["data"]["sequenceNumber"]
        deadline = time.monotonic() + 30
        sinks = (await client.get("/emulator/events/sinks")).json()
        while sinks[0]["deliveredThroughSequence"] != delivered and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # the cursor moves just after the endpoint took the event
            sinks = (await client.get("/emulator/events/sinks")).json()
    assert sinks[0]["name"] == "flaky" and sinks[0]["failedAttempts"] == 0
    assert sinks[0]["deliveredThroughSequence"] == delivered


async def test_a_queue_message_refused_once_is_sent_again_without_the_messages_before_it(tmp_path):
    queue = QueueStandIn(refuse=lambda posted: posted == 2).start()  # the third message, the first time
    sink = {
        "type": "azure-storage-queue", "connection_string": queue.connection_string, "queue_name": "events",
        "name": "queue", "max_concurrent_messages": 1, **FAST_RETRIES,
    }  # fmt: skip
    try:
        async with running_app(data_dir=tmp_path, events=[sink]) as client:
            await store(client, *(make_dataset() for _ in range(5)))
            stored = [entry["sequence"] for entry in await feed(client)]
            await eventually(lambda: len(queue.received()) >= 5, what="five messages")
            await eventually(lambda: queue.posted == 6, what="the refused message sent again")
            sinks = (await client.get("/emulator/events/sinks")).json()
            deadline = time.monotonic() + 30
            while sinks[0]["deliveredThroughSequence"] != stored[-1] and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # the cursor moves just after the queue took the last message
                sinks = (await client.get("/emulator/events/sinks")).json()
    finally:
        queue.stop()
    assert sequence_numbers(queue.received()) == stored  # each once, in order: nothing before the refused one again
    assert sinks[0]["deliveredThroughSequence"] == stored[-1]
    assert sinks[0]["failedAttempts"] == 0 and sinks[0]["lastError"] is None


EVENT_KEYS = {"id", "topic", "subject", "data", "eventType", "dataVersion", "metadataVersion", "eventTime"}


async def test_a_400_is_not_retried(tmp_path, receiver):
    sink = {"type": "webhook", "url": receiver.url, "name": "strict", **FAST_RETRIES}
    async with running_app(data_dir=tmp_path, events=[sink]) as client:
        receiver.status = 400
        await store(client, make_dataset())

        async def letters() -> list:
            return (await client.get("/emulator/events/deadletters")).json()

        await eventually(lambda: any(r[1].get("aeg-event-type") == "Notification" for r in receiver.requests))
        deadline = time.monotonic() + 30
        found = await letters()
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            found = await letters()
    assert [(letter["deadLetterReason"], letter["deliveryAttempts"]) for letter in found] == [
        ("NonRetryableDeliveryFailure", 1)
    ]


async def test_a_hanging_sink_does_not_hold_up_stow(tmp_path, receiver):
    sink = {"type": "webhook", "url": receiver.url, "timeout_seconds": 0.5, **FAST_RETRIES}
    async with running_app(data_dir=tmp_path, events=[sink]) as client:
        receiver.hang.set()
        for _ in range(3):
            await store(client, make_dataset(), make_dataset())
        assert receiver.received() == []  # every STOW answered while no event got through
        receiver.hang.clear()
        await eventually(lambda: len(receiver.received()) == 6, what="the held-up events")
    assert sequence_numbers(receiver.received()) == sorted(sequence_numbers(receiver.received()))


async def test_events_wait_for_a_refused_validation_and_none_are_lost(tmp_path, receiver):
    receiver.validate = "refuse"
    sink = {"type": "webhook", "url": receiver.url, **FAST_RETRIES}
    async with running_app(data_dir=tmp_path, events=[sink]) as client:
        await store(client, make_dataset(), make_dataset())
        await eventually(lambda: len(receiver.validation_requests()) >= 2, what="repeated handshakes")
        assert receiver.received() == []
        receiver.validate = "sync"
        await eventually(lambda: len(receiver.received()) == 2, what="the events after validation")
        assert (await client.get("/emulator/events/deadletters")).json() == []


async def test_manual_validation_through_the_validation_url(tmp_path, receiver):
    receiver.validate = "manual"
    sink = {"type": "webhook", "url": receiver.url, "name": "manual", **FAST_RETRIES}
    async with running_app(data_dir=tmp_path, events=[sink], port=8123) as client:
        await store(client, make_dataset())
        await eventually(lambda: receiver.validation_requests(), what="the validation event")
        validation_url = receiver.validation_requests()[0][2][0]["data"]["validationUrl"]
        parts = urlsplit(validation_url)
        assert parts.netloc == "127.0.0.1:8123" and parts.path == "/emulator/events/validate"
        wrong = await client.get(parts.path, params={"sink": "manual", "code": "not-the-code"})
        assert wrong.status_code == 400
        assert (await client.get(parts.path, params={"sink": "nobody", "code": "x"})).status_code == 404
        assert (await client.get(f"{parts.path}?{parts.query}")).json() == {"validated": True}
        await eventually(lambda: len(receiver.received()) == 1, what="the event after manual validation")
        sinks = (await client.get("/emulator/events/sinks")).json()
    assert sinks[0]["validated"] is True


async def test_file_sink_appends_json_lines_in_either_schema(tmp_path, database_url):
    sinks = [
        {"type": "file", "path": str(tmp_path / "grid.jsonl")},
        {"type": "file", "path": str(tmp_path / "cloud.jsonl"), "schema": "cloudevents"},
    ]
    async with running_app(data_dir=tmp_path / "data", database_url=database_url, events=sinks) as client:
        await store(client, make_dataset(), make_dataset(), make_dataset())

        def lines(name: str) -> list[dict]:
            path = tmp_path / name
            return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

        await eventually(lambda: len(lines("grid.jsonl")) == 3 and len(lines("cloud.jsonl")) == 3)
        entries = await feed(client)
    grid, cloud = lines("grid.jsonl"), lines("cloud.jsonl")
    assert sequence_numbers(grid) == sequence_numbers(cloud) == [entry["sequence"] for entry in entries]
    assert [EventGridEvent.from_dict(event).id for event in grid] == [CloudEvent.from_dict(e).id for e in cloud]


async def test_inspector_shows_events_in_both_schemas_and_clears(tmp_path, database_url):
    async with running_app(data_dir=tmp_path, database_url=database_url) as client:
        ds = make_dataset()
        await store(client, ds)

        async def shown(schema: str = "eventgrid") -> list[dict]:
            return (await client.get("/emulator/events", params={"schema": schema})).json()

        deadline = time.monotonic() + 30
        events = await shown()
        while not events and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            events = await shown()
        assert [event["data"]["imageSopInstanceUid"] for event in events] == [ds.SOPInstanceUID]
        assert (await shown("cloudevents"))[0]["specversion"] == "1.0"
        assert (await client.get("/emulator/events", params={"schema": "xml"})).status_code == 400
        assert (await client.delete("/emulator/events")).status_code == 204
        assert await shown() == []
        other = make_dataset()
        await store(client, other)
        events = []
        while not events and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            events = await shown()
    assert [event["data"]["imageSopInstanceUid"] for event in events] == [other.SOPInstanceUID]


async def test_inspector_can_be_switched_off(tmp_path):
    async with running_app(data_dir=tmp_path, events_inspector=False) as client:
        assert (await client.get("/emulator/events")).status_code == 404
        assert (await client.delete("/emulator/events")).status_code == 404


async def test_a_restart_resumes_where_delivery_stopped(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url, "max_attempts": 1000, **FAST_RETRIES}
    settings = {"data_dir": tmp_path, "database_url": database_url, "events": [sink]}
    receiver.status = 503
    async with running_app(**settings) as client:
        await store(client, *(make_dataset() for _ in range(3)))
        await eventually(lambda: any(r[1].get("aeg-event-type") == "Notification" for r in receiver.requests))
    assert receiver.received() == []
    receiver.status = 200
    async with running_app(**settings) as client:
        await store(client, make_dataset())
        await eventually(lambda: len(receiver.received()) == 4, what="all four events after the restart")
        entries = await feed(client)
    assert sequence_numbers(receiver.received()) == [entry["sequence"] for entry in entries]


async def test_two_workers_share_a_sink_without_delivering_an_event_twice(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url}
    settings = {"data_dir": tmp_path, "database_url": database_url, "events": [sink]}
    async with running_app(**settings) as first, running_app(**settings) as second:
        for index in range(6):
            await store(first if index % 2 else second, make_dataset(), make_dataset())
        await eventually(lambda: len(receiver.received()) == 12, what="twelve deliveries")
        await asyncio.sleep(0.5)  # a duplicate would arrive meanwhile
        entries = await feed(first)
    assert sequence_numbers(receiver.received()) == [entry["sequence"] for entry in entries]


async def test_a_delivery_process_that_dies_is_started_again(tmp_path, receiver):
    async with running_app(data_dir=tmp_path, events=[{"type": "webhook", "url": receiver.url}]) as client:
        await store(client, make_dataset())
        await eventually(lambda: len(receiver.received()) == 1, what="the first event")
        # Delivery is at least once: killed after the endpoint took the event but before the cursor
        # moved past it, the process's successor delivers it again. Kill it once the cursor moved.
        delivered = receiver.received()[0]["data"]["sequenceNumber"]
        deadline = time.monotonic() + 30
        while (await client.get("/emulator/events/sinks")).json()[0]["deliveredThroughSequence"] != delivered:
            assert time.monotonic() < deadline, "the cursor did not move past the first event"
            await asyncio.sleep(0.02)
        dispatcher = client.app.state.services.events
        first = dispatcher.delivery
        first.process.kill()
        await store(client, make_dataset())
        await eventually(lambda: len(receiver.received()) == 2, what="the event after the restart")
        assert dispatcher.delivery is not first
        entries = await feed(client)
    assert sequence_numbers(receiver.received()) == [entry["sequence"] for entry in entries]
