"""End to end: the real server delivering events to Azurite's queue and a webhook that goes away, across a SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import uuid

import httpx
import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from harness.azurite import Azurite, QueueReader, azurite_unavailable_reason
from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server, emulator_executable

from ..support.events import Receiver, sequence_numbers, wait_until

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
PATIENT = {"max_attempts": 1000, "retry_initial_seconds": 0.1, "retry_max_seconds": 0.5}


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    reason = azurite_unavailable_reason()
    if reason:
        pytest.skip(reason)
    running = Azurite(tmp_path_factory.mktemp("azurite")).start()
    yield running
    running.stop()


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def store(server: Server, count: int) -> list:
    datasets = [make_dataset() for _ in range(count)]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        response = http.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
    assert response.status_code == 200, response.text
    return datasets


def delete(server: Server, ds) -> None:
    path = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    assert httpx.delete(server.url + path, timeout=60).status_code == 204


def feed_sequences(server: Server) -> list[int]:
    entries = httpx.get(server.url + "/v1/changefeed", params={"limit": 100, "includeMetadata": "false"}).json()
    return [entry["sequence"] for entry in entries]


def test_queue_and_webhook_get_every_event_in_order_across_an_outage(tmp_path, database_url, azurite, receiver):
    sinks = [
        {"type": "webhook", "url": receiver.url, **PATIENT},
        {
            "type": "azure-storage-queue",
            "connection_string": azurite.connection_string,
            "queue_name": f"dicom-{uuid.uuid4().hex[:12]}",
            "schema": "cloudevents",
            **PATIENT,
        },
        {
            "type": "azure-storage-queue",
            "connection_string": azurite.connection_string,
            "queue_name": f"dicom-{uuid.uuid4().hex[:12]}",
            "max_concurrent_messages": 1,
            **PATIENT,
        },
    ]
    queue = QueueReader(azurite.connection_string, sinks[1]["queue_name"])
    ordered_queue = QueueReader(azurite.connection_string, sinks[2]["queue_name"])
    server = Server(tmp_path / "data", database_url, DICOM_EMULATOR_EVENTS=json.dumps(sinks)).start()
    try:
        first = store(server, 3)
        wait_until(lambda: len(receiver.received()) == 3, what="the first events at the webhook")
        receiver.stop()  # the webhook goes away ...
        second = store(server, 4)
        delete(server, first[0])
        delete(server, second[1])
        receiver.start()  # ... and comes back
        expected = feed_sequences(server)
        assert len(expected) == 9
        wait_until(lambda: len(receiver.received()) == 9, what="every event at the webhook")
        wait_until(lambda: len(queue.drain()) == 9, what="every event in the queue")
        wait_until(lambda: len(ordered_queue.drain()) == 9, what="every event in the one-at-a-time queue")
    finally:
        server.stop()
    hooked = [EventGridEvent.from_dict(event) for event in receiver.received()]
    queued = [CloudEvent.from_dict(event) for event in queue.events]
    assert [event.data["sequenceNumber"] for event in hooked] == expected
    assert [EventGridEvent.from_dict(event).data["sequenceNumber"] for event in ordered_queue.events] == expected
    # The default queue takes a group of messages at once, so neighbours may swap places; none is lost or doubled.
    assert sorted(event.data["sequenceNumber"] for event in queued) == expected
    queued.sort(key=lambda event: event.data["sequenceNumber"])
    assert [event.type.rsplit(".", 1)[1] for event in queued] == ["DicomImageCreated"] * 7 + ["DicomImageDeleted"] * 2
    assert [event.id for event in hooked] == [event.id for event in queued]
    assert queued[7].data["imageSopInstanceUid"] == first[0].SOPInstanceUID


def test_events_left_in_the_outbox_by_a_sigkill_are_delivered_after_restart(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url, **PATIENT}
    server = Server(tmp_path / "data", database_url, DICOM_EMULATOR_EVENTS=json.dumps([sink])).start()
    receiver.status = 503
    try:
        store(server, 2)
        store(server, 2)
        expected = feed_sequences(server)
        wait_until(
            lambda: any(r[1].get("aeg-event-type") == "Notification" for r in receiver.requests),
            what="a refused delivery",
        )
        server.stop(signal.SIGKILL)
        assert receiver.received() == []
        receiver.status = 200
        server.start()
        wait_until(lambda: len(receiver.received()) == 4, what="the events after the restart")
        store(server, 1)
        wait_until(lambda: len(receiver.received()) == 5, what="a new event")
        expected = feed_sequences(server)
    finally:
        server.stop()
    assert sequence_numbers(receiver.received()) == expected


def test_two_workers_deliver_each_event_once(tmp_path, database_url, receiver):
    sink = {"type": "webhook", "url": receiver.url}
    server = Server(
        tmp_path / "data", database_url, DICOM_EMULATOR_EVENTS=json.dumps([sink]), DICOM_EMULATOR_WORKERS="2"
    ).start()
    try:
        for _ in range(6):
            store(server, 2)
        expected = feed_sequences(server)
        wait_until(lambda: len(receiver.received()) == len(expected), what="every event")
        store(server, 1)  # a later event cannot overtake a duplicate that is still on its way
        wait_until(lambda: len(receiver.received()) >= len(expected) + 1, what="the last event")
        expected = feed_sequences(server)
    finally:
        server.stop()
    assert sequence_numbers(receiver.received()) == expected


@pytest.mark.parametrize(
    ("events", "field"),
    [
        ('[{"type": "webhook"}]', "events.0.webhook.url"),
        ('[{"type": "azure-storage-queue", "connection_string": "x", "queue_name": "Q"}]', "queue_name"),
        ('[{"type": "file", "path": "/tmp/x", "retry_max_seconds": "soon"}]', "retry_max_seconds"),
        ("not json", 'field "events"'),
    ],
)
def test_a_malformed_sink_configuration_stops_start_up_naming_the_field(tmp_path, events, field):
    result = subprocess.run(
        [emulator_executable(), "serve", "--port", "9", "--data-dir", str(tmp_path)],
        env={"PATH": "/usr/bin:/bin", "DICOM_EMULATOR_EVENTS": events},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Invalid configuration" in result.stderr and field in result.stderr


def test_a_malformed_events_file_stops_start_up(tmp_path):
    path = tmp_path / "events.json"
    path.write_text('[{"type": "webhook", "url": "http://127.0.0.1:9/", "max_events_per_batch": 0}]')
    result = subprocess.run(
        [emulator_executable(), "serve", "--port", "9", "--data-dir", str(tmp_path), "--events-file", str(path)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "max_events_per_batch" in result.stderr and str(path) in result.stderr


def test_sinks_from_an_events_file_get_every_event_once(tmp_path):
    out = tmp_path / "events.jsonl"
    path = tmp_path / "events.json"
    path.write_text(json.dumps([{"type": "file", "path": str(out)}]))
    server = Server(tmp_path / "data", None, DICOM_EMULATOR_EVENTS_FILE=str(path)).start()

    def written() -> list[dict]:
        return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    try:
        store(server, 3)
        wait_until(lambda: len(written()) >= 3, what="the events in the file")
        expected = feed_sequences(server)
    finally:
        server.stop()
    assert sequence_numbers(written()) == expected
