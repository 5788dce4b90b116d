"""The update operation in-process: files, metadata, search, change feed, original versions, delete and PUT."""

from __future__ import annotations

import os

import pydicom
import pytest
from pydicom.uid import generate_uid

from azure_dicom_emulator.dicom.element_update import IMPLEMENTATION_CLASS_UID
from azure_dicom_emulator.features.store.sweep import sweep_orphans
from azure_dicom_emulator.storage import index
from harness.factories import make_dataset

from ..support.app import running_app
from ..support.updates import ACCEPT, ORIGINAL, finished, instance_path, name_change, start_update, store, update

DICOM_ANY = {"Accept": "application/dicom; transfer-syntax=*"}
MULTIPART_ANY = {"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}


def study(count: int = 2, **attributes) -> list:
    study_uid, series_uid = generate_uid(), generate_uid()
    return [make_dataset(study_uid, series_uid, **attributes) for _ in range(count)]


async def file_of(client, ds, headers=None) -> pydicom.Dataset:
    response = await client.get(instance_path(ds), headers={**DICOM_ANY, **(headers or {})})
    assert response.status_code == 200, response.text
    return pydicom.dcmread(pydicom.filebase.DicomBytesIO(response.content))


async def metadata_of(client, path: str, headers=None) -> tuple[list[dict], str]:
    response = await client.get(path + "/metadata", headers={**ACCEPT, **(headers or {})})
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


async def files_on_disk(client) -> set[str]:
    root = client.app.state.services.blobs.root
    return {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
        if ".staging" not in folder
    }


async def test_an_update_rewrites_files_and_metadata_and_reports_its_results(client):
    datasets = study(3, PatientWeight="80")
    originals = await store(client, *datasets)
    changes = {**name_change("Updated^Patient"), "00101030": {"vr": "DS", "Value": ["72.5"]}}
    done = await update(client, [datasets[0].StudyInstanceUID], changes)
    assert done["status"] == "succeeded"
    assert done["type"] == "update"
    assert done["percentComplete"] == 100
    assert done["results"] == {"studyProcessed": 1, "studyUpdated": 1, "studyFailed": 0, "instanceUpdated": 3}
    assert "resources" not in done
    for ds, original in zip(datasets, originals, strict=True):
        new = await file_of(client, ds)
        old = pydicom.dcmread(pydicom.filebase.DicomBytesIO(original))
        assert str(new.PatientName) == "Updated^Patient"
        assert new.PatientWeight == 72.5
        assert new.PixelData == old.PixelData
        assert (new.SOPInstanceUID, new.StudyDate) == (old.SOPInstanceUID, old.StudyDate)
        assert new.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
        assert new.file_meta.ImplementationVersionName == "0.1.0"
    (document,), _ = await metadata_of(client, instance_path(datasets[0]))
    assert document["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "Updated^Patient"}]}
    assert document["00101030"] == {"vr": "DS", "Value": [72.5]}


async def test_search_finds_the_new_values_and_not_the_old_ones(client):
    datasets = study(2, ReferringPhysicianName="Old^Doctor", StudyDescription="Old description")
    await store(client, *datasets)
    uid = datasets[0].StudyInstanceUID
    changes = {
        "00080090": {"vr": "PN", "Value": [{"Alphabetic": "New^Doctor"}]},
        "00081030": {"vr": "LO", "Value": ["New description"]},
        "00100020": {"vr": "LO", "Value": ["PID-NEW"]},
    }
    await update(client, [uid], changes)
    found = await client.get("/v2/studies", params={"StudyInstanceUID": uid, "PatientID": "PID-NEW"}, headers=ACCEPT)
    assert found.status_code == 200
    (result,) = found.json()
    assert result["00081030"]["Value"] == ["New description"]
    assert result["00080090"]["Value"] == [{"Alphabetic": "New^Doctor"}]
    for params in ({"PatientID": "PID-1"}, {"ReferringPhysicianName": "Old^Doctor"}, {"StudyDescription": "Old*"}):
        response = await client.get("/v2/studies", params={"StudyInstanceUID": uid, **params}, headers=ACCEPT)
        assert response.status_code == 204, params
    fuzzy = await client.get(
        "/v2/studies",
        params={"StudyInstanceUID": uid, "ReferringPhysicianName": "new", "fuzzymatching": "true"},
        headers=ACCEPT,
    )
    assert fuzzy.status_code == 200
    instances = await client.get(f"/v2/studies/{uid}/instances", params={"includefield": "00100020"}, headers=ACCEPT)
    assert {item["00100020"]["Value"][0] for item in instances.json()} == {"PID-NEW"}


async def test_an_empty_value_empties_file_and_metadata_but_the_study_index_keeps_the_old_value(client):
    datasets = study(1)
    await store(client, *datasets)
    uid = datasets[0].StudyInstanceUID
    await update(client, [uid], {"00100010": {"vr": "PN"}})
    assert (await file_of(client, datasets[0])).PatientName == ""
    (document,), _ = await metadata_of(client, instance_path(datasets[0]))
    assert document["00100010"] == {"vr": "PN"}
    found = await client.get("/v2/studies", params={"StudyInstanceUID": uid, "PatientName": "Doe^John"}, headers=ACCEPT)
    assert found.status_code == 200


async def test_an_unknown_study_is_processed_but_not_updated_and_the_operation_succeeds(client):
    done = await update(client, [generate_uid()], name_change("Nobody"))
    assert done["status"] == "succeeded"
    assert done["results"] == {"studyProcessed": 1, "studyUpdated": 0, "studyFailed": 0, "instanceUpdated": 0}


async def test_other_studies_of_the_patient_are_untouched(client):
    updated, other = study(1), study(1)
    await store(client, *updated, *other)
    await update(client, [updated[0].StudyInstanceUID], name_change("Changed^Name"))
    assert str((await file_of(client, other[0])).PatientName) == "Doe^John"
    (document,), _ = await metadata_of(client, instance_path(other[0]))
    assert document["00100010"]["Value"] == [{"Alphabetic": "Doe^John"}]


async def test_a_value_the_character_set_cannot_hold_fails_the_study_and_the_operation(client):
    plain, latin = study(2), study(1, SpecificCharacterSet="ISO_IR 100")
    await store(client, *plain, *latin)
    uids = [plain[0].StudyInstanceUID, latin[0].StudyInstanceUID]
    done = await update(client, uids, name_change("Müller^Jürgen"))
    assert done["status"] == "failed"
    assert done["percentComplete"] == 100
    results = done["results"]
    assert {key: results[key] for key in ("studyProcessed", "studyUpdated", "studyFailed", "instanceUpdated")} == {
        "studyProcessed": 2,
        "studyUpdated": 1,
        "studyFailed": 1,
        "instanceUpdated": 1,
    }
    assert results["errors"][0] == f"Failed to update instances for study {uids[0]}"
    assert len(results["errors"]) == 3  # the study's error and one per instance
    for ds in plain:  # untouched: no new version, no original
        assert str((await file_of(client, ds)).PatientName) == "Doe^John"
        assert (await file_of(client, ds)).file_meta.ImplementationClassUID != IMPLEMENTATION_CLASS_UID
    assert str((await file_of(client, latin[0])).PatientName) == "Müller^Jürgen"


async def test_original_versions_at_every_level_and_a_never_updated_instance_gives_its_current(client):
    datasets = study(2)
    originals = await store(client, *datasets)
    uid, series = datasets[0].StudyInstanceUID, datasets[0].SeriesInstanceUID
    _, etag_before = await metadata_of(client, instance_path(datasets[0]))
    await update(client, [uid], name_change("New^Name"))
    stored_later = make_dataset(uid, generate_uid())  # in the study, never updated
    (later,) = await store(client, stored_later)
    for header in (ORIGINAL, {"msdicom-request-original": "TRUE"}):
        assert str((await file_of(client, datasets[0], header)).PatientName) == "Doe^John"
    response = await client.get(instance_path(datasets[0]), headers={**DICOM_ANY, **ORIGINAL})
    assert response.content == originals[0]
    expected_latest = {
        f"/v2/studies/{uid}": {"New^Name", "Doe^John"},
        f"/v2/studies/{uid}/series/{series}": {"New^Name"},
    }
    for path, latest_names in expected_latest.items():
        response = await client.get(path, headers={**MULTIPART_ANY, **ORIGINAL})
        assert response.status_code == 200
        assert originals[0] in response.content and originals[1] in response.content
        documents, _ = await metadata_of(client, path, ORIGINAL)
        assert {document["00100010"]["Value"][0]["Alphabetic"] for document in documents} == {"Doe^John"}
        latest, _ = await metadata_of(client, path)
        assert {document["00100010"]["Value"][0]["Alphabetic"] for document in latest} == latest_names
    (original,), etag_original = await metadata_of(client, instance_path(datasets[0]), ORIGINAL)
    (latest,), etag_latest = await metadata_of(client, instance_path(datasets[0]))
    assert original["00100010"]["Value"] == [{"Alphabetic": "Doe^John"}]
    assert latest["00100010"]["Value"] == [{"Alphabetic": "New^Name"}]
    assert etag_original == etag_before != etag_latest
    response = await client.get(instance_path(stored_later), headers={**DICOM_ANY, **ORIGINAL})
    assert response.content == later


async def test_a_second_update_keeps_the_first_original_and_removes_the_intermediate_file(client):
    (ds,) = study(1)
    (first,) = await store(client, ds)
    await update(client, [ds.StudyInstanceUID], name_change("Second^Version"))
    services = client.app.state.services
    async with services.db.read() as conn:
        (intermediate,) = await index.study_instances(conn, 1, ds.StudyInstanceUID)
    assert services.blobs.root.joinpath(intermediate.blob_key).exists()
    await update(client, [ds.StudyInstanceUID], name_change("Third^Version"))
    assert not services.blobs.root.joinpath(intermediate.blob_key).exists()
    response = await client.get(instance_path(ds), headers={**DICOM_ANY, **ORIGINAL})
    assert response.content == first
    assert str((await file_of(client, ds)).PatientName) == "Third^Version"
    async with services.db.read() as conn:
        (row,) = await index.study_instances(conn, 1, ds.StudyInstanceUID)
    assert row.original_blob_key == intermediate.original_blob_key
    await sweep_orphans(services, grace_seconds=0)  # the original and the latest are named by rows: both stay
    root = services.blobs.root
    assert root.joinpath(row.original_blob_key).exists() and root.joinpath(row.blob_key).exists()


async def test_delete_removes_both_versions(client):
    datasets = study(2)
    await store(client, *datasets)
    before = await files_on_disk(client)
    await update(client, [datasets[0].StudyInstanceUID], name_change("New^Name"))
    assert len(await files_on_disk(client)) == len(before) + 2
    assert (await client.delete(instance_path(datasets[0]))).status_code == 204
    for headers in ({}, ORIGINAL):
        assert (await client.get(instance_path(datasets[0]), headers={**DICOM_ANY, **headers})).status_code == 404
        response = await client.get(instance_path(datasets[0]) + "/metadata", headers={**ACCEPT, **headers})
        assert response.status_code == 404
    assert (await client.delete(f"/v2/studies/{datasets[0].StudyInstanceUID}")).status_code == 204
    assert not {name for name in await files_on_disk(client) if datasets[0].StudyInstanceUID in name}


async def test_a_put_after_an_update_is_a_fresh_create_without_an_original(client):
    (ds,) = study(1)
    await store(client, ds)
    await update(client, [ds.StudyInstanceUID], name_change("Updated^Name"))
    services = client.app.state.services
    async with services.db.read() as conn:
        (updated,) = await index.study_instances(conn, 1, ds.StudyInstanceUID)
    ds.PatientName = "Replaced^Name"
    (replacement,) = await store(client, ds, method="put")
    for headers in ({}, ORIGINAL):
        response = await client.get(instance_path(ds), headers={**DICOM_ANY, **headers})
        assert response.content == replacement
    assert not services.blobs.root.joinpath(updated.blob_key).exists()
    assert not services.blobs.root.joinpath(updated.original_blob_key).exists()
    async with services.db.read() as conn:
        (row,) = await index.study_instances(conn, 1, ds.StudyInstanceUID)
    assert row.original_version is None


async def test_the_change_feed_shows_create_replaced_then_update_current_in_v1_and_v2(client):
    (ds,) = study(1)
    await store(client, ds)
    latest = await client.get("/v1/changefeed/latest", params={"includeMetadata": "false"})
    after = latest.json()["sequence"] - 1
    await update(client, [ds.StudyInstanceUID], name_change("Fed^Name"))
    v1 = (await client.get("/v1/changefeed", params={"offset": after, "limit": 10})).json()
    mine = [entry for entry in v1 if entry["sopInstanceUid"] == ds.SOPInstanceUID]
    assert [(entry["action"], entry["state"]) for entry in mine] == [("Create", "Replaced"), ("Update", "Current")]
    assert mine[1]["metadata"]["00100010"]["Value"] == [{"Alphabetic": "Fed^Name"}]
    v2 = (await client.get("/v2/changefeed", params={"limit": 200, "startTime": mine[0]["timestamp"]})).json()
    assert [(e["action"], e["state"]) for e in v2 if e["sopInstanceUid"] == ds.SOPInstanceUID] == [
        ("Create", "Replaced"),
        ("Update", "Current"),
    ]


async def test_case_insensitive_property_names_and_padded_uids_are_accepted(client):
    (ds,) = study(1)
    await store(client, ds)
    body = {"STUDYINSTANCEUIDS": [ds.StudyInstanceUID + " "], "changedataset": name_change("Any^Case")}
    response = await client.post("/v2/studies/$bulkUpdate", json=body)
    assert response.status_code == 202
    done = await finished(client, response.json())
    assert done["results"]["instanceUpdated"] == 1
    assert str((await file_of(client, ds)).PatientName) == "Any^Case"


async def test_v1_reads_a_succeeded_update_as_completed(client):
    reference = await start_update(client, [generate_uid()], name_change("X"))
    await finished(client, reference)
    response = await client.get(f"/v1/operations/{reference['id']}")
    assert response.json()["status"] == "completed"
    assert response.json()["percentComplete"] == 100


async def test_partitions_are_isolated(partitioned_client):
    client = partitioned_client
    study_uid, series_uid, sop_uid = generate_uid(), generate_uid(), generate_uid()
    one, two = make_dataset(study_uid, series_uid, sop_uid), make_dataset(study_uid, series_uid, sop_uid)
    await store(client, one, root="/v2/partitions/one")
    await store(client, two, root="/v2/partitions/two")
    done = await update(client, [study_uid], name_change("Partition^One"), root="/v2/partitions/one")
    assert done["results"]["instanceUpdated"] == 1
    for partition, name in (("one", "Partition^One"), ("two", "Doe^John")):
        path = instance_path(one, root=f"/v2/partitions/{partition}")
        response = await client.get(path, headers=DICOM_ANY)
        assert str(pydicom.dcmread(pydicom.filebase.DicomBytesIO(response.content)).PatientName) == name


@pytest.mark.parametrize("level", ["study", "series", "instance"])
async def test_extended_query_tags_are_reindexed_with_the_new_version(tmp_path, database_url, level):
    settings = {"data_dir": tmp_path, "operation_poll_seconds": 0.1}
    if database_url:
        settings["database_url"] = database_url
    async with running_app(**settings) as client:
        added = await client.post("/v2/extendedquerytags", json=[{"path": "EthnicGroup", "level": level}])
        assert added.status_code == 202
        await finished(client, added.json())
        datasets = study(2, EthnicGroup="Old")
        await store(client, *datasets)
        await update(client, [datasets[0].StudyInstanceUID], {"00102160": {"vr": "SH", "Value": ["New"]}})
        route = {"study": "/v2/studies", "series": "/v2/series", "instance": "/v2/instances"}[level]
        assert (await client.get(route, params={"EthnicGroup": "New"}, headers=ACCEPT)).status_code == 200
        assert (await client.get(route, params={"EthnicGroup": "Old"}, headers=ACCEPT)).status_code == 204


async def test_reindex_operations_keep_resources_and_have_no_results(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        await _reindex_keeps_resources(client)


async def _reindex_keeps_resources(client):
    response = await client.post(
        "/v2/extendedquerytags", json=[{"path": "PatientReligiousPreference", "level": "Study"}]
    )
    assert response.status_code == 202
    done = await finished(client, response.json())
    assert done["resources"] == ["http://testserver:8080/v2/extendedquerytags/001021F0"]
    assert done["percentComplete"] == 100
    assert "results" not in done
    assert done["type"] == "reindex"
