"""The update operation's checkpoints: a study is updated wholly or not at all, and a restart resumes at the next."""

from __future__ import annotations

import asyncio
import json
import os

import pydicom
import pytest
from pydicom.uid import generate_uid

from azure_dicom_emulator.features.operations import LostOwnership, holding_lease
from azure_dicom_emulator.features.update import operation as update_operation
from azure_dicom_emulator.storage import operations
from harness.factories import make_dataset

from ..support.app import running_app
from ..support.updates import finished, instance_path, name_change, start_update, store

DICOM_ANY = {"Accept": "application/dicom; transfer-syntax=*"}


def settings_for(tmp_path, database_url) -> dict:
    settings = {"data_dir": tmp_path, "operation_poll_seconds": 0.1, "operation_lease_seconds": 0.5}
    if database_url:
        settings["database_url"] = database_url
    return settings


def studies(count: int, instances: int) -> list[list]:
    result = []
    for _ in range(count):
        study_uid, series_uid = generate_uid(), generate_uid()
        result.append([make_dataset(study_uid, series_uid) for _ in range(instances)])
    return result


async def names(client, datasets) -> set[str]:
    found = set()
    for ds in datasets:
        response = await client.get(instance_path(ds), headers=DICOM_ANY)
        found.add(str(pydicom.dcmread(pydicom.filebase.DicomBytesIO(response.content)).PatientName))
    return found


async def claimed_by_a_worker_that_dies(client) -> object:
    """The not-started update, claimed by an owner that runs batches by hand (the app's runner stopped)."""
    services = client.app.state.services
    async with services.db.write() as conn:
        return await operations.claim(conn, "a-worker-that-dies", 0.5, ["update"])


async def test_an_update_resumes_at_the_next_study_after_a_restart(tmp_path, database_url):
    settings = settings_for(tmp_path, database_url)
    groups = studies(3, 2)
    async with running_app(**settings) as client:
        await store(client, *[ds for group in groups for ds in group])
        await client.app.state.operation_runner.stop()
        reference = await start_update(client, [group[0].StudyInstanceUID for group in groups], name_change("New^One"))
        services = client.app.state.services
        claimed = await claimed_by_a_worker_that_dies(client)
        assert not await update_operation.run_batch(services, claimed, "a-worker-that-dies")
        running = await client.get(f"/v2/operations/{reference['id']}")
        assert running.status_code == 202
        assert running.json()["percentComplete"] == 33
        assert running.json()["results"] == {
            "studyProcessed": 1,
            "studyUpdated": 1,
            "studyFailed": 0,
            "instanceUpdated": 2,
        }
        assert await names(client, groups[0]) == {"New^One"}
        assert await names(client, groups[1] + groups[2]) == {"Doe^John"}
    async with running_app(**settings) as client:
        done = await finished(client, reference)
        assert done["status"] == "succeeded"
        assert done["results"] == {"studyProcessed": 3, "studyUpdated": 3, "studyFailed": 0, "instanceUpdated": 6}
        assert await names(client, [ds for group in groups for ds in group]) == {"New^One"}
        feed = (await client.get("/v1/changefeed", params={"limit": 100})).json()
        updates = [entry["sopInstanceUid"] for entry in feed if entry["action"] == "Update"]
        assert sorted(updates) == sorted(ds.SOPInstanceUID for group in groups for ds in group)  # once each


async def test_a_study_whose_commit_loses_the_operation_is_left_untouched(tmp_path, database_url, monkeypatch):
    settings = settings_for(tmp_path, database_url)
    (group,) = studies(1, 3)
    async with running_app(**settings) as client:
        await store(client, *group)
        await client.app.state.operation_runner.stop()
        await start_update(client, [group[0].StudyInstanceUID], name_change("Never^Written"))
        services = client.app.state.services
        blobs = services.blobs.root
        before = {os.path.join(folder, name) for folder, _, files in os.walk(blobs) for name in files}
        feed_before = (await client.get("/v1/changefeed", params={"limit": 100})).json()
        claimed = await claimed_by_a_worker_that_dies(client)

        async def lease_gone(*args, **kwargs):
            return False

        monkeypatch.setattr(operations, "checkpoint", lease_gone)
        with pytest.raises(LostOwnership):
            await update_operation.run_batch(services, claimed, "a-worker-that-dies")
        monkeypatch.undo()
        after = {os.path.join(folder, name) for folder, _, files in os.walk(blobs) for name in files}
        assert after == before
        assert await names(client, group) == {"Doe^John"}
        assert (await client.get("/v1/changefeed", params={"limit": 100})).json() == feed_before
        async with services.db.read() as conn:
            row = await operations.find(conn, claimed.operation_id)
        assert json.loads(row.checkpoint)["next"] == 0


async def test_a_batch_holding_the_lease_is_not_taken_over_however_long_its_work_lasts(tmp_path, database_url):
    settings = {**settings_for(tmp_path, database_url), "operation_lease_seconds": 0.3}
    async with running_app(**settings) as client:
        await client.app.state.operation_runner.stop()
        await start_update(client, [generate_uid()], name_change("Any^Name"))
        services = client.app.state.services
        claimed = await claimed_by_a_worker_that_dies(client)
        async with holding_lease(services, claimed.operation_id, "a-worker-that-dies"):
            await asyncio.sleep(1.5)  # five leases' worth of work
            async with services.db.write() as conn:
                assert await operations.claim(conn, "another-worker", 0.3, ["update"]) is None
        await asyncio.sleep(1.0)
        async with services.db.write() as conn:
            taken = await operations.claim(conn, "another-worker", 0.3, ["update"])
        assert taken is not None and taken.owner == "another-worker"  # once no longer held, the lease runs out
