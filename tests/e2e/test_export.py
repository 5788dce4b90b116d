"""End to end: the real server exports to Azurite's blob service; the operation reports its results."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
import uuid

import httpx
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.uid import generate_uid

from harness.azurite import new_container
from harness.factories import make_dataset
from harness.server import Server


def wait_for_end(server, href: str) -> dict:
    """The operation's JSON once it has ended (200), after 202s with Location while it runs."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = httpx.get(href, timeout=30)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202
        assert response.headers["location"] == href
        time.sleep(0.1)
    pytest.fail("the export did not end")


def checkpoint_of(data_dir, operation_id: str) -> tuple[str, dict]:
    """The status and checkpoint of an operation, read from a stopped server's SQLite index."""
    with contextlib.closing(sqlite3.connect(data_dir / "index.db")) as index:
        [(status, checkpoint)] = index.execute(
            "SELECT status, checkpoint FROM operation WHERE operation_id = ?", (operation_id,)
        )
    return status, json.loads(checkpoint)


def export(server, azurite, version: str, values: list[str]) -> tuple[dict, object]:
    """Starts an export of ``values`` to a new container; returns the operation reference and the container."""
    container = new_container(azurite, f"e2e-{uuid.uuid4().hex[:12]}")
    settings = {"connectionString": azurite.connection_string, "blobContainerName": container.container_name}
    body = {
        "source": {"type": "identifiers", "settings": {"values": values}},
        "destination": {"type": "azureblob", "settings": settings},
    }
    response = httpx.post(f"{server.url}/{version}/export", json=body, timeout=30)
    assert response.status_code == 202, response.text
    reference = response.json()
    assert response.headers["location"] == reference["href"] == f"{server.url}/{version}/operations/{reference['id']}"
    return reference, container


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_an_export_copies_each_instance_byte_for_byte_and_logs_what_it_skipped(server, azurite_blob, version):
    dicomweb = DICOMwebClient(f"{server.url}/{version}")
    study = generate_uid()
    datasets = [make_dataset(study), make_dataset(study), make_dataset()]
    dicomweb.store_instances(datasets)
    unknown = generate_uid()
    reference, container = export(server, azurite_blob, version, [study, datasets[2].StudyInstanceUID, unknown])
    done = wait_for_end(server, reference["href"])
    assert done["type"] == "export"
    assert done["status"] == ("completed" if version == "v1" else "succeeded")
    for ds in datasets:
        path = f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}"
        stored = httpx.get(
            f"{server.url}/{version}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}",
            headers={"Accept": "application/dicom; transfer-syntax=*"},
            timeout=30,
        )
        assert stored.status_code == 200
        assert container.download_blob(f"{reference['id']}/results/{path}.dcm").readall() == stored.content
    [line] = container.download_blob(f"{reference['id']}/errors.log").readall().decode().splitlines()
    assert json.loads(line)["identifier"] == unknown
    assert json.loads(line)["error"] == "The specified study cannot be found."


def test_the_operation_of_an_export_reports_exported_skipped_and_error_href_without_percent_complete(
    server, azurite_blob
):
    ds = make_dataset()
    DICOMwebClient(f"{server.url}/v2").store_instances([ds])
    reference, container = export(server, azurite_blob, "v2", [ds.StudyInstanceUID, generate_uid(), generate_uid()])
    done = wait_for_end(server, reference["href"])
    error_href = f"{azurite_blob.endpoint}/{container.container_name}/{reference['id']}/errors.log"
    assert done["results"] == {"exported": 1, "skipped": 2, "errorHref": error_href}
    assert "percentComplete" not in done
    assert "resources" not in done


def test_an_export_killed_midway_is_resumed_by_the_restarted_server_and_counts_each_instance_once(
    tmp_path, azurite_blob
):
    settings = {
        "DICOM_EMULATOR_EXPORT_BATCH_SIZE": "1",
        "DICOM_EMULATOR_OPERATION_LEASE_SECONDS": "1",
        "DICOM_EMULATOR_OPERATION_POLL_SECONDS": "0.1",
    }
    data_dir = tmp_path / "data"
    first = Server(data_dir, **settings).start()
    try:
        datasets = [make_dataset() for _ in range(30)]
        DICOMwebClient(f"{first.url}/v2").store_instances(datasets)
        container = new_container(azurite_blob, f"e2e-{uuid.uuid4().hex[:12]}")
        connection = {"connectionString": azurite_blob.connection_string, "blobContainerName": container.container_name}
        response = httpx.post(
            f"{first.url}/v2/export", json={"destination": {"type": "azureblob", "settings": connection}}, timeout=30
        )
        assert response.status_code == 202, response.text
        operation_id = response.json()["id"]
        results = f"{operation_id}/results/"
        deadline = time.monotonic() + 60
        while not any(container.list_blobs(name_starts_with=results)) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        first.stop(signal.SIGKILL)
    assert checkpoint_of(data_dir, operation_id)[0] == "running"  # killed midway, with batches still to do
    second = Server(data_dir, **settings).start()
    try:
        done = wait_for_end(second, f"{second.url}/v2/operations/{operation_id}")
    finally:
        second.stop()
    assert done["status"] == "succeeded"
    copies = {blob.name.removeprefix(results) for blob in container.list_blobs(name_starts_with=results)}
    assert copies == {f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm" for ds in datasets}
    assert checkpoint_of(data_dir, operation_id)[1]["results"]["exported"] == 30
