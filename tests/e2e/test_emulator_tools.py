"""The emulator's tools on the real server: reset during a store, faults and reset across two workers."""

from __future__ import annotations

import json
import threading
import time

import httpx
from pydicom.uid import generate_uid

from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.events import Receiver, sequence_numbers, wait_until

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
FAULT_CACHE_SECONDS = 0.5  # features.emulator_tools.faults.CACHE_SECONDS


def one_shot(server: Server, method: str, path: str, **kwargs) -> httpx.Response:
    """A request on a new connection: the kernel spreads new connections over the workers."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        return client.request(method, path, **kwargs)


def store(server: Server, count: int, study: str | None = None) -> httpx.Response:
    body = multipart([to_bytes(make_dataset(study_uid=study)) for _ in range(count)])
    return one_shot(server, "POST", "/v2/studies", content=body, headers=STOW)


def instance_paths(server: Server) -> list[str]:
    response = one_shot(server, "GET", "/v2/instances", params={"limit": 200})
    if response.status_code == 204:
        return []
    return [
        f"/v2/studies/{item['0020000D']['Value'][0]}/series/{item['0020000E']['Value'][0]}"
        f"/instances/{item['00080018']['Value'][0]}"
        for item in response.json()
    ]


def feed(server: Server) -> list[dict]:
    return one_shot(server, "GET", "/v1/changefeed", params={"limit": 100}).json()


def test_a_reset_during_a_store_leaves_every_listed_instance_whole_and_then_an_empty_server(tmp_path, database_url):
    server = Server(tmp_path / "data", database_url).start()
    try:
        assert store(server, 20).status_code == 200
        stores: list[httpx.Response] = []
        storing = threading.Thread(target=lambda: stores.extend(store(server, 100) for _ in range(3)))
        storing.start()
        reset = one_shot(server, "DELETE", "/emulator/data")
        storing.join()

        assert reset.status_code == 204
        # A request is stored whole, before or after the reset; or, if the reset came while it was being
        # received, refused whole with 272.
        for answer in stores:
            assert answer.status_code in (200, 409)
            if answer.status_code == 409:
                assert {item["00081197"]["Value"][0] for item in answer.json()["00081198"]["Value"]} == {272}
        listed = instance_paths(server)
        assert len(listed) % 100 == 0  # whole requests, stored after the reset
        for path in listed:
            retrieved = one_shot(server, "GET", path, headers={"Accept": "application/dicom; transfer-syntax=*"})
            assert retrieved.status_code == 200
        assert len(feed(server)) == min(len(listed), 100)

        assert one_shot(server, "DELETE", "/emulator/data").status_code == 204
        assert instance_paths(server) == []
        assert feed(server) == []
        assert store(server, 1).status_code == 200
        assert [entry["sequence"] for entry in feed(server)] == [1]
        assert len(server.blob_names()) == 1
    finally:
        server.stop()


def test_fault_rules_hold_across_two_workers_with_every_field(tmp_path, database_url):
    server = Server(tmp_path / "data", database_url, DICOM_EMULATOR_WORKERS="2").start()
    try:
        rules = [
            {"method": "GET", "path": "/v2/studies", "status": 429, "retry_after": 3, "count": 3},
            {"method": "GET", "path": "/v2/series", "status": 503, "probability": 0},
            {"method": "GET", "path": "/v2/series", "delay_ms": 5, "count": 2},
            {"method": "POST", "path": "/v2/studies*", "status": 500, "probability": 1},
        ]
        assert one_shot(server, "POST", "/emulator/faults", json=rules).status_code == 201
        time.sleep(FAULT_CACHE_SECONDS * 2)  # the other worker reads the rules again

        studies = [one_shot(server, "GET", "/v2/studies") for _ in range(6)]
        series = [one_shot(server, "GET", "/v2/series").status_code for _ in range(4)]
        refused_store = store(server, 1)

        assert [response.status_code for response in studies] == [429, 429, 429, 204, 204, 204]
        assert all(response.headers["retry-after"] == "3" for response in studies[:3])
        assert studies[0].json()["error"]["code"] == "TooManyRequests"
        assert series == [204, 204, 204, 204]
        assert refused_store.status_code == 500
        fired = [rule["fired"] for rule in one_shot(server, "GET", "/emulator/faults").json()]
        assert fired == [3, 0, 2, 1]

        assert one_shot(server, "DELETE", "/emulator/faults").status_code == 204
        time.sleep(FAULT_CACHE_SECONDS * 2)
        assert store(server, 1).status_code == 200
        assert [entry["sequence"] for entry in feed(server)] == [1]  # the refused store left nothing
    finally:
        server.stop()


def test_a_reset_empties_the_events_inspector_and_restarts_the_sinks_in_every_worker(tmp_path, database_url):
    receiver = Receiver().start()
    sink = {"type": "webhook", "url": receiver.url}
    env = {"DICOM_EMULATOR_WORKERS": "2", "DICOM_EMULATOR_EVENTS": json.dumps([sink])}
    server = Server(tmp_path / "data", database_url, **env).start()
    try:
        study = generate_uid()
        for _ in range(3):
            assert store(server, 2, study).status_code == 200
        wait_until(lambda: len(receiver.received()) == 6, what="six deliveries")
        assert one_shot(server, "DELETE", "/emulator/data").status_code == 204
        assert store(server, 1).status_code == 200

        def every_worker_shows_only_the_new_event() -> bool:
            views = [one_shot(server, "GET", "/emulator/events").json() for _ in range(6)]
            return all(sequence_numbers(view) == [1] for view in views)

        wait_until(every_worker_shows_only_the_new_event, what="inspectors showing only sequence 1")
        wait_until(lambda: len(receiver.received()) == 7, what="the event after the reset")
        assert sequence_numbers(receiver.received()) == [1, 2, 3, 4, 5, 6, 1]
    finally:
        server.stop()
        receiver.stop()
