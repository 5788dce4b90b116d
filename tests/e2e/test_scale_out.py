"""End to end: two hosts (``serve`` processes on separate data dirs) sharing PostgreSQL and Azurite's blob service.

What one host stores the other serves byte for byte; a delete on one is a 404 on the other; an
operation whose host is killed is finished by the other; every event is delivered once; a sweep
never takes what another host is still uploading; the blob store going away is a 503, and its return
a recovery.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid

import httpx
import numpy as np
import pytest
from pydicom.uid import generate_uid

from harness.azurite import Azurite, azurite_unavailable_reason, new_container
from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.events import Receiver, sequence_numbers, wait_until
from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database
from ..support.updates import ORIGINAL
from .test_search import _freeze_once_the_operation_progresses, _operation_row

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
ANY = {"Accept": "application/dicom; transfer-syntax=*"}
FRAMES = {"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'}
DICOM_JSON = {"Accept": "application/dicom+json"}
DATA_STORE_FAILED = "Data store operation failed."
FAST_OPERATIONS = {
    "DICOM_EMULATOR_OPERATION_LEASE_SECONDS": "1",
    "DICOM_EMULATOR_OPERATION_POLL_SECONDS": "0.2",
    "DICOM_EMULATOR_REINDEX_BATCH_SIZE": "1",
}

pytestmark = pytest.mark.skipif(POSTGRES_SKIP_REASON is not None, reason=POSTGRES_SKIP_REASON or "")


@pytest.fixture
def database():
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def container(azurite_blob):
    return new_container(azurite_blob, f"hosts-{uuid.uuid4().hex[:12]}")


def blob_url(azurite: Azurite, container) -> str:
    return f"{azurite.endpoint}/{container.container_name}"


def host(tmp_path, name: str, database: str, url: str, **env: str) -> Server:
    """A host of its own data dir on the shared database and blob store."""
    data_dir = tmp_path / name / "data"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    return Server(data_dir, database, DICOM_EMULATOR_BLOB_URL=url, **env)


def multiframe(frames: int = 5, study_uid: str | None = None):
    ds = make_dataset(study_uid, rows=16, columns=16)
    ds.NumberOfFrames = frames
    ds.PixelData = (np.arange(16 * 16 * frames, dtype="<u2") % 4096).tobytes()
    return ds


def store(server: Server, datasets) -> None:
    body = multipart([to_bytes(ds) for ds in datasets])
    response = httpx.post(server.url + "/v2/studies", content=body, headers=STOW, timeout=60)
    assert response.status_code == 200, response.text


def instance_path(ds) -> str:
    return f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def feed(server: Server, offset: int = 0) -> list[dict]:
    params = {"limit": 100, "offset": offset, "includeMetadata": "false"}
    return httpx.get(server.url + "/v1/changefeed", params=params).json()


def test_what_one_host_stores_the_other_serves_byte_for_byte_and_a_delete_on_one_is_404_on_the_other(
    tmp_path, database, azurite_blob, container
):
    url = blob_url(azurite_blob, container)
    first = host(tmp_path, "first", database, url).start()
    second = host(tmp_path, "second", database, url, DICOM_EMULATOR_WORKERS="2").start()
    try:
        study = generate_uid()
        datasets = [multiframe(5, study), make_dataset(study, rows=32, columns=32, PatientName="Scale^Out")]
        sent = {ds.SOPInstanceUID: to_bytes(ds) for ds in datasets}
        store(first, datasets)
        assert len(list(container.list_blobs())) == 2  # the files are in the shared container, not a data dir
        for ds in datasets:
            path = instance_path(ds)
            one, other = (httpx.get(server.url + path, headers=ANY, timeout=30) for server in (first, second))
            assert other.status_code == 200 and other.content == one.content
            assert len(other.content) >= len(sent[ds.SOPInstanceUID]) - 512  # the stored file, its head rewritten
            metadata = [
                httpx.get(server.url + path + "/metadata", headers=DICOM_JSON).json() for server in (first, second)
            ]
            assert metadata[0] == metadata[1]
        frames = [
            httpx.get(server.url + instance_path(datasets[0]) + "/frames/2,5", headers=FRAMES)
            for server in (first, second)
        ]
        assert frames[1].status_code == 200 and frames[1].content.count(b"--") == frames[0].content.count(b"--")
        pixels = np.frombuffer(datasets[0].PixelData, "<u2").reshape(5, 256)
        assert pixels[1].tobytes() in frames[1].content and pixels[4].tobytes() in frames[1].content
        rendered = httpx.get(
            second.url + instance_path(datasets[0]) + "/frames/3/rendered", headers={"Accept": "image/png"}
        )
        assert rendered.status_code == 200 and rendered.content.startswith(b"\x89PNG")
        found = httpx.get(second.url + "/v2/studies", params={"PatientName": "Scale^Out"}, headers=DICOM_JSON).json()
        assert [entry["0020000D"]["Value"] for entry in found] == [[study]]
        assert feed(second) == feed(first) and len(feed(second)) == 2

        assert httpx.delete(first.url + instance_path(datasets[1])).status_code == 204
        gone = httpx.get(second.url + instance_path(datasets[1]), headers=ANY)
        assert (gone.status_code, gone.text) == (404, "The specified instance cannot be found.")
        assert len(list(container.list_blobs())) == 1
        assert [entry["action"] for entry in feed(second)] == ["Create", "Create", "Delete"]
    finally:
        first.stop()
        second.stop()


def test_a_reindex_whose_host_is_killed_is_finished_by_the_other_host(tmp_path, database, azurite_blob, container):
    url = blob_url(azurite_blob, container)
    first = host(tmp_path, "first", database, url, **FAST_OPERATIONS).start()
    second = host(tmp_path, "second", database, url, **FAST_OPERATIONS).start()
    try:
        for start in range(0, 120, 40):
            store(first, [make_dataset(Occupation=f"Job{n}") for n in range(start, start + 40)])
        second.process.send_signal(signal.SIGSTOP)  # the first host alone starts the operation ...
        try:
            response = httpx.post(first.url + "/v2/extendedquerytags", json=[{"path": "Occupation", "level": "Study"}])
            assert response.status_code == 202
            operation_id = response.json()["id"]
            _freeze_once_the_operation_progresses(first, operation_id)
            status, percent = _operation_row(first, operation_id)
            first.stop(signal.SIGKILL)  # ... and dies wherever it was
        finally:
            second.process.send_signal(signal.SIGCONT)
        assert status == "running" and 0 < percent < 100
        operation = f"{second.url}/v2/operations/{operation_id}"
        wait_until(lambda: httpx.get(operation).status_code == 200, what="the reindex's end on the other host")
        done = httpx.get(operation).json()
        assert done["status"] == "succeeded"
        for n in (0, 60, 119):
            found = httpx.get(f"{second.url}/v2/studies?Occupation=job{n}", headers=DICOM_JSON)
            assert found.status_code == 200 and len(found.json()) == 1
    finally:
        first.stop()
        second.stop()


def test_an_update_whose_host_is_killed_is_finished_by_the_other_host_with_every_file_in_the_store(
    tmp_path, database, azurite_blob, container
):
    url = blob_url(azurite_blob, container)
    first = host(tmp_path, "first", database, url, **FAST_OPERATIONS).start()
    second = host(tmp_path, "second", database, url, **FAST_OPERATIONS).start()
    studies = [
        [make_dataset(study_uid, rows=64, columns=64) for _ in range(2)]
        for study_uid in [generate_uid() for _ in range(30)]
    ]
    try:
        for start in range(0, len(studies), 10):
            store(first, [ds for study in studies[start : start + 10] for ds in study])
        body = {
            "studyInstanceUids": [study[0].StudyInstanceUID for study in studies],
            "changeDataset": {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "After^Kill"}]}},
        }
        second.process.send_signal(signal.SIGSTOP)
        try:
            reference = httpx.post(first.url + "/v2/studies/$bulkUpdate", json=body).json()
            path = f"/v2/operations/{reference['id']}"
            wait_until(
                lambda: httpx.get(first.url + path).json().get("results", {}).get("studyProcessed", 0) >= 1,
                what="the first study's commit",
            )
            first.stop(signal.SIGKILL)
        finally:
            second.process.send_signal(signal.SIGCONT)
        wait_until(lambda: httpx.get(second.url + path).status_code == 200, what="the update's end on the other host")
        done = httpx.get(second.url + path).json()
        assert done["status"] == "succeeded" and done["results"]["instanceUpdated"] == 60
        for ds in (studies[0][0], studies[-1][1]):
            response = httpx.get(second.url + instance_path(ds), headers=ANY)
            assert response.status_code == 200 and b"After^Kill" in response.content
            original = httpx.get(second.url + instance_path(ds), headers={**ANY, **ORIGINAL})
            assert original.status_code == 200 and b"Doe^John" in original.content
        entries = feed(second, 0) + feed(second, 100)
        updates = sorted(entry["sopInstanceUid"] for entry in entries if entry["action"] == "Update")
        assert updates == sorted(ds.SOPInstanceUID for study in studies for ds in study)  # each exactly once
    finally:
        first.stop()
        second.stop()


def test_two_hosts_deliver_each_event_once(tmp_path, database, azurite_blob, container):
    receiver = Receiver().start()
    sinks = json.dumps([{"type": "webhook", "url": receiver.url}])
    url = blob_url(azurite_blob, container)
    first = host(tmp_path, "first", database, url, DICOM_EMULATOR_EVENTS=sinks).start()
    second = host(tmp_path, "second", database, url, DICOM_EMULATOR_EVENTS=sinks).start()
    try:
        for server in (first, second, first, second):
            store(server, [make_dataset() for _ in range(3)])
        expected = [entry["sequence"] for entry in feed(first)]
        assert len(expected) == 12
        wait_until(lambda: len(receiver.received()) >= 12, what="every event")
        time.sleep(1)  # time enough for a second delivery, were there one
        assert sequence_numbers(receiver.received()) == expected
    finally:
        first.stop()
        second.stop()
        receiver.stop()


@pytest.mark.parametrize("store_kind", ["azure", "shared-files"])
def test_a_sweep_on_one_host_takes_the_orphans_and_nothing_another_host_is_uploading(
    tmp_path, database, azurite_blob, container, store_kind
):
    if store_kind == "azure":
        url = blob_url(azurite_blob, container)
        container.upload_blob("1/1.2/1.3/1.4.9.dcm", to_bytes(make_dataset()))  # a crash's leftover, no row names it
        time.sleep(5.5)
        grace = "5"  # longer than the other host's request has run when this one sweeps

        def orphan_gone() -> bool:
            return "1/1.2/1.3/1.4.9.dcm" not in {blob.name for blob in container.list_blobs()}
    else:
        shared = tmp_path / "shared"
        url = f"file://{shared}"
        leftover = shared / "1/1.2/1.3/1.4.9.dcm"
        leftover.parent.mkdir(parents=True)
        leftover.write_bytes(to_bytes(make_dataset()))
        old = time.time() - 3600
        os.utime(leftover, (old, old))
        grace = "60"

        def orphan_gone() -> bool:
            return not leftover.exists()

    uploading = host(tmp_path, "uploading", database, url).start()
    datasets = [make_dataset(rows=64, columns=64) for _ in range(6)]
    body = multipart([to_bytes(ds) for ds in datasets])
    half = len(body) // 2
    halfway = threading.Event()

    def slow_body():
        yield body[:half]
        halfway.set()
        time.sleep(4)  # the other host starts, and sweeps, meanwhile
        yield body[half:]

    answers = []
    upload = threading.Thread(
        target=lambda: answers.append(
            httpx.post(uploading.url + "/v2/studies", content=slow_body(), headers=STOW, timeout=60)
        )
    )
    upload.start()
    sweeping = host(tmp_path, "sweeping", database, url, DICOM_EMULATOR_ORPHAN_GRACE_SECONDS=grace)
    try:
        assert halfway.wait(30)
        sweeping.start()  # its start-up sweep runs before it answers its health check
        assert orphan_gone()
        upload.join(60)
        assert answers and answers[0].status_code == 200, answers and answers[0].text
        for ds in datasets:
            response = httpx.get(sweeping.url + instance_path(ds), headers=ANY)
            assert response.status_code == 200 and ds.SOPInstanceUID.encode() in response.content
    finally:
        upload.join(60)
        uploading.stop()
        sweeping.stop()


def test_the_blob_store_going_away_is_503_and_its_return_a_recovery(tmp_path, database):
    reason = azurite_unavailable_reason()
    if reason:
        pytest.skip(reason)
    azurite = Azurite(tmp_path / "azurite", service="blob", in_memory=False).start()
    server = host(tmp_path, "only", database, f"{azurite.endpoint}/dicom")
    try:
        server.start()
        before = make_dataset()
        store(server, [before])
        azurite.stop(graceful=True)
        started = time.monotonic()
        health = httpx.get(server.url + "/health/check", timeout=30)
        assert health.status_code == 503
        assert {entry["name"]: entry["status"] for entry in health.json()["details"]} == {
            "DataStoreHealthCheck": "Healthy",
            "DicomBlobHealthCheck": "Unhealthy",
        }
        read = httpx.get(server.url + instance_path(before), headers=ANY, timeout=30)
        assert (read.status_code, read.text) == (503, DATA_STORE_FAILED)
        frame = httpx.get(server.url + instance_path(before) + "/frames/1", headers=FRAMES, timeout=30)
        assert (frame.status_code, frame.text) == (503, DATA_STORE_FAILED)
        body = multipart([to_bytes(make_dataset())])
        refused = httpx.post(server.url + "/v2/studies", content=body, headers=STOW, timeout=30)
        assert refused.status_code == 409  # the instance failed with 272, and nothing of it stays
        assert refused.json()["00081198"]["Value"][0]["00081197"]["Value"] == [272]
        assert time.monotonic() - started < 20  # answers, not hangs
        metadata = httpx.get(server.url + instance_path(before) + "/metadata", headers=DICOM_JSON)
        assert metadata.status_code == 200  # metadata lives in the database
        azurite.start()
        wait_until(lambda: httpx.get(server.url + "/health/check").status_code == 200, what="healthy again")
        assert httpx.get(server.url + instance_path(before), headers=ANY).status_code == 200
        store(server, [make_dataset()])
    finally:
        server.stop()
        azurite.stop()
