"""Extended query tags and the reindex operation, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json

import pytest
import pytest_asyncio
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.features.extended_query_tags import reindex
from azure_dicom_emulator.features.operations import runner as operation_runner
from azure_dicom_emulator.storage import operations
from azure_dicom_emulator.storage.schema import (
    extended_query_tag,
    extended_query_tag_string,
    operation,
    person_name_word,
)
from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
ACCEPT = {"Accept": DICOM_JSON}


@pytest_asyncio.fixture
async def fresh(tmp_path, database_url):
    """An empty app (tags are global), polling for operations often."""
    settings = {"data_dir": tmp_path, "operation_poll_seconds": 0.1, "reindex_batch_size": 2}
    if database_url:
        settings["database_url"] = database_url
    async with running_app(**settings) as client:
        yield client


async def store(client, *datasets, version="v2"):
    response = await client.post(
        f"/{version}/studies", content=multipart([to_bytes(d) for d in datasets]), headers=STOW
    )
    assert response.status_code in (200, 202), response.text
    return response


async def add_tags(client, tags: list[dict]) -> dict:
    response = await client.post("/v2/extendedquerytags", json=tags)
    assert response.status_code == 202, response.text
    reference = response.json()
    assert response.headers["location"] == reference["href"]
    assert len(reference["id"]) == 32
    return reference


async def finished(client, reference: dict, version: str = "v2") -> dict:
    path = reference["href"].replace("http://testserver:8080", "").replace("/v2/", f"/{version}/")
    for _ in range(300):
        response = await client.get(path)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202
        assert response.headers["location"].endswith(reference["id"])
        await asyncio.sleep(0.05)
    raise AssertionError("the operation did not finish")


async def test_reindex_indexes_existing_instances_and_new_ones_are_indexed_when_stored(fresh):
    existing = [make_dataset(PatientAge=age, Occupation=job) for age, job in [("053Y", "Baker"), ("012M", "Smith")]]
    await store(fresh, *existing)
    reference = await add_tags(
        fresh, [{"path": "PatientAge", "level": "Instance"}, {"Path": "00102180", "VR": "sh", "Level": "study"}]
    )
    tag = (await fresh.get("/v2/extendedquerytags/PatientAge")).json()
    assert tag["status"] in ("adding", "ready")
    done = await finished(fresh, reference)
    assert done["status"] == "succeeded" and done["percentComplete"] == 100 and done["type"] == "reindex"
    assert done["resources"] == [
        "http://testserver:8080/v2/extendedquerytags/00101010",
        "http://testserver:8080/v2/extendedquerytags/00102180",
    ]
    assert (await finished(fresh, reference, version="v1"))["status"] == "completed"
    listed = (await fresh.get("/v2/extendedquerytags")).json()
    assert listed == [
        {"path": "00101010", "vr": "AS", "level": "instance", "status": "ready", "queryStatus": "enabled"},
        {"path": "00102180", "vr": "SH", "level": "study", "status": "ready", "queryStatus": "enabled"},
    ]
    (found,) = (await fresh.get("/v2/instances?PatientAge=053y", headers=ACCEPT)).json()
    assert found["00101010"] == {"vr": "AS", "Value": ["053Y"]}  # a filter attribute is returned
    (study,) = (await fresh.get("/v2/studies?Occupation=SMITH", headers=ACCEPT)).json()
    assert study["0020000D"]["Value"] == [existing[1].StudyInstanceUID]
    later = make_dataset(PatientAge="099Y", Occupation="Tailor")
    await store(fresh, later)
    (found,) = (await fresh.get("/v2/studies?00102180=tailor", headers=ACCEPT)).json()
    assert found["0020000D"]["Value"] == [later.StudyInstanceUID]
    response = await fresh.get("/v2/series?PatientAge=099Y", headers=ACCEPT)
    assert response.status_code == 400  # an instance-level tag is not queryable on series
    assert (await fresh.delete(f"/v2/studies/{later.StudyInstanceUID}")).status_code == 204
    assert (await fresh.get("/v2/studies?Occupation=Tailor", headers=ACCEPT)).status_code == 204
    assert (await fresh.get("/v2/instances?PatientAge=099Y", headers=ACCEPT)).status_code == 204


async def test_values_failing_their_vr_are_errors_and_disable_searching(fresh):
    bad = [make_dataset(PatientAge="foo"), make_dataset(PatientAge="bar")]
    good = make_dataset(PatientAge="053Y")
    await store(fresh, *bad, good, version="v1")
    await finished(fresh, await add_tags(fresh, [{"path": "00101010", "level": "instance"}]))
    tag = (await fresh.get("/v2/extendedquerytags/00101010")).json()
    assert tag["queryStatus"] == "disabled"
    assert tag["errors"] == {"count": 2, "href": "http://testserver:8080/v2/extendedquerytags/00101010/errors"}
    errors = (await fresh.get("/v2/extendedquerytags/00101010/errors")).json()
    assert {e["sopInstanceUid"] for e in errors} == {d.SOPInstanceUID for d in bad}
    assert all(e["errorMessage"] == "Value length is not expected." for e in errors)
    assert errors[0]["partitionName"] == "Microsoft.Default" and errors[0]["createdTime"].endswith("Z")
    page = (await fresh.get("/v2/extendedquerytags/00101010/errors?limit=1&offset=1")).json()
    assert page == errors[1:]
    response = await fresh.get("/v2/instances?PatientAge=053Y", headers=ACCEPT)
    assert response.status_code == 400
    assert response.text == "Query is disabled on specified attribute 'PatientAge'."
    patched = await fresh.patch("/v2/extendedquerytags/PatientAge", json={"QueryStatus": "Enabled"})
    assert patched.status_code == 200 and patched.json()["queryStatus"] == "enabled"
    response = await fresh.get("/v2/instances?PatientAge=053Y", headers=ACCEPT)
    assert response.status_code == 200
    assert response.headers["erroneous-dicom-attributes"] == "PatientAge"
    assert [d["00080018"]["Value"][0] for d in response.json()] == [good.SOPInstanceUID]
    assert (await fresh.delete(f"/v2/studies/{bad[0].StudyInstanceUID}")).status_code == 204
    assert len((await fresh.get("/v2/extendedquerytags/00101010/errors")).json()) == 1


async def test_typed_values_dates_numbers_and_person_names(fresh):
    study_uid = generate_uid()
    first = make_dataset(study_uid, SeriesDate="20200105", InstanceNumber=3, PerformingPhysicianName="Müller^Anna")
    second = make_dataset(study_uid, SeriesDate="20200301", InstanceNumber=12, PerformingPhysicianName="Ng^Bo")
    await store(fresh, first)
    await finished(
        fresh,
        await add_tags(
            fresh,
            [
                {"path": "SeriesDate", "level": "Series"},
                {"path": "InstanceNumber", "level": "Instance"},
                {"path": "PerformingPhysicianName", "level": "Series"},
            ],
        ),
    )
    await store(fresh, second)

    async def series_found(query: str) -> list[str]:
        response = await fresh.get(f"/v2/studies/{study_uid}/series?{query}", headers=ACCEPT)
        assert response.status_code in (200, 204), response.text
        return [d["0020000E"]["Value"][0] for d in response.json()] if response.status_code == 200 else []

    assert await series_found("SeriesDate=20200101-20200201") == [first.SeriesInstanceUID]
    assert await series_found("SeriesDate=20200201-") == [second.SeriesInstanceUID]
    assert await series_found("PerformingPhysicianName=muller^anna") == [first.SeriesInstanceUID]
    assert await series_found("PerformingPhysicianName=mul&fuzzymatching=true") == [first.SeriesInstanceUID]
    instances = await fresh.get(f"/v2/studies/{study_uid}/instances?InstanceNumber=0012", headers=ACCEPT)
    assert [d["00080018"]["Value"][0] for d in instances.json()] == [second.SOPInstanceUID]
    response = await fresh.get(f"/v2/studies/{study_uid}/instances?InstanceNumber=1.5", headers=ACCEPT)
    assert response.status_code == 400
    assert response.text == (
        "Invalid query: specified value '1.5' extended query tag with path '00200013' is not a valid long value."
    )
    bad_date = await fresh.get(f"/v2/studies/{study_uid}/series?SeriesDate=2020", headers=ACCEPT)
    assert bad_date.status_code == 400


async def test_latest_instance_wins_at_study_level(fresh):
    await finished(fresh, await add_tags(fresh, [{"path": "Occupation", "level": "Study"}]))
    study_uid = generate_uid()
    await store(fresh, make_dataset(study_uid, Occupation="Old"))
    await store(fresh, make_dataset(study_uid, Occupation="New"))
    await store(fresh, make_dataset(study_uid))  # no value: keeps New
    assert (await fresh.get("/v2/studies?Occupation=old", headers=ACCEPT)).status_code == 204
    assert (await fresh.get("/v2/studies?Occupation=new", headers=ACCEPT)).status_code == 200


async def test_conflicts_deletion_and_limits(fresh):
    await store(fresh, *[make_dataset(Occupation=str(n)) for n in range(6)])
    reference = await add_tags(fresh, [{"path": "Occupation", "level": "Study"}])
    response = await fresh.post("/v2/extendedquerytags", json=[{"path": "PatientSex", "level": "Study"}])
    if response.status_code == 409:  # the reindex is still running
        assert response.text == f"There is already an active re-index operation with ID '{reference['id']}'."
        assert response.headers["location"] == reference["href"]
    await finished(fresh, reference)
    response = await fresh.post("/v2/extendedquerytags", json=[{"path": "00102180", "level": "Study"}])
    assert response.status_code == 409
    assert response.text == "One or more extended query tags already exist."
    assert (await fresh.delete("/v2/extendedquerytags/Occupation")).status_code == 204
    assert (await fresh.get("/v2/extendedquerytags/Occupation")).status_code == 404
    assert (await fresh.delete("/v2/extendedquerytags/Occupation")).status_code == 404
    async with fresh.app.state.services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(extended_query_tag_string))).scalar_one() == 0
    assert (await fresh.get("/v2/studies?Occupation=1", headers=ACCEPT)).status_code == 400
    async with fresh.app.state.services.db.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(extended_query_tag))).scalar_one()
    many = [
        {"path": f"0011{n:04X}", "vr": "LO", "privateCreator": "ACME", "level": "Study"} for n in range(0x1000, 0x1081)
    ]
    response = await fresh.post("/v2/extendedquerytags", json=many)
    assert response.status_code == 503
    assert response.text == "Extended query tags exceeds max allowed count '128'."
    async with fresh.app.state.services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(extended_query_tag))).scalar_one() == before
    await finished(fresh, await add_tags(fresh, many[: 128 - before]))


async def test_operations_endpoint(fresh):
    assert (await fresh.get("/v2/operations/0123456789abcdef0123456789abcdef")).status_code == 404
    assert (await fresh.get("/v2/operations/not-a-guid")).status_code == 404
    reference = await add_tags(fresh, [{"path": "PatientSex", "level": "Study"}])
    dashed = "-".join(
        [
            reference["id"][:8],
            reference["id"][8:12],
            reference["id"][12:16],
            reference["id"][16:20],
            reference["id"][20:],
        ]
    )
    response = await fresh.get(f"/v2/operations/{dashed}")
    assert response.status_code in (200, 202)
    body = response.json()
    assert body["operationId"] == reference["id"] and body["createdTime"].endswith("Z")


async def test_person_name_words_of_a_deleted_tag_go_too(fresh):
    await store(fresh, make_dataset(PerformingPhysicianName="Ada^Lovelace"))
    await finished(fresh, await add_tags(fresh, [{"path": "PerformingPhysicianName", "level": "Instance"}]))
    assert (await fresh.delete("/v2/extendedquerytags/PerformingPhysicianName")).status_code == 204
    async with fresh.app.state.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(func.count()).select_from(person_name_word).where(person_name_word.c.tag == 0x00081050)
            )
        ).scalar_one()
    assert rows == 0


async def test_reindex_resumes_from_its_checkpoint_after_a_restart(tmp_path, database_url):
    settings = {
        "data_dir": tmp_path,
        "operation_poll_seconds": 0.1,
        "reindex_batch_size": 2,
        "operation_lease_seconds": 0.5,
    }
    if database_url:
        settings["database_url"] = database_url
    datasets = [make_dataset(Occupation=f"Job{n}") for n in range(7)]
    async with running_app(**settings) as client:
        await store(client, *datasets)
        await client.app.state.operation_runner.stop()  # this worker will die after one batch
        reference = await add_tags(client, [{"path": "Occupation", "level": "Study"}])
        services = client.app.state.services
        async with services.db.write() as conn:
            claimed = await operations.claim(conn, "a-worker-that-dies", 0.5, ["reindex"])
        assert not await reindex.run_batch(services, claimed, "a-worker-that-dies")
        async with services.db.read() as conn:
            state = await operations.find(conn, reference["id"])
        assert state.status == "running" and json.loads(state.checkpoint)["done"] == 2
        assert (await client.get(reference["href"])).status_code == 202
    async with running_app(**settings) as client:
        done = await finished(client, reference)
        assert done["status"] == "succeeded"
        for n in range(7):
            response = await client.get(f"/v2/studies?Occupation=job{n}", headers=ACCEPT)
            assert response.status_code == 200


BAD_BODIES = [
    (b"[", 400, "The syntax of the request body is invalid."),
    (b"[]", 400, "The extended query tag(s) is missing."),
    (
        json.dumps([{"path": "00100040"}]).encode(),
        400,
        "The field '[0].Level' in request body is invalid: The Dicom Tag Property Level must be specified and must "
        "not be null, empty or whitespace",
    ),
    (
        json.dumps([{"path": " ", "level": "Study"}]).encode(),
        400,
        "The field '[0].Path' in request body is invalid: The Dicom Tag Property Path must be specified and must "
        "not be null, empty or whitespace",
    ),
    (
        json.dumps([{"Path": "00100040", "Level": "Studys"}]).encode(),
        400,
        "The field '$[0].Level' in request body is invalid: Expected value 'Studys' to be one of the following "
        "values: ['Instance', 'Series', 'Study']",
    ),
    (
        json.dumps([{"path": "NotATag", "level": "Study"}]).encode(),
        400,
        "The extended query tag 'NotATag' is invalid as it cannot be parsed into a valid Dicom Tag.",
    ),
    (
        json.dumps([{"path": "00101010.00100020", "level": "Study"}]).encode(),
        400,
        "The extended query tag '00101010.00100020' is invalid as it cannot be parsed into a valid Dicom Tag.",
    ),
    (
        json.dumps([{"path": "PatientID", "level": "Study"}]).encode(),
        400,
        "The query tag 'PatientID' is already supported.",
    ),
    (
        json.dumps([{"path": "PatientSex", "level": "Study"}, {"path": "00100040", "level": "Study"}]).encode(),
        400,
        "The extended query tag '00100040' has been specified before.",
    ),
    (
        json.dumps([{"path": "PatientSex", "privateCreator": "X", "level": "Study"}]).encode(),
        400,
        "The private creator is not empty for standard tag 'PatientSex'.",
    ),
    (
        json.dumps([{"path": "00111001", "vr": "LO", "level": "Study"}]).encode(),
        400,
        "The private creator for private tag '00111001' is missing.",
    ),
    (
        json.dumps([{"path": "00110010", "privateCreator": "X", "level": "Study"}]).encode(),
        400,
        "The private creator is not empty for private identification code '00110010'.",
    ),
    (
        json.dumps([{"path": "00111001", "privateCreator": "ACME", "level": "Study"}]).encode(),
        400,
        "The vr for tag '00111001' is missing.",
    ),
    (
        json.dumps([{"path": "PatientSex", "vr": "XX", "level": "Study"}]).encode(),
        400,
        "The VR code 'XX' for tag 'PatientSex' is invalid.",
    ),
    (
        json.dumps([{"path": "PatientSex", "vr": "LO", "level": "Study"}]).encode(),
        400,
        "The VR code 'LO' is incorrectly specified for 'PatientSex'. The expected VR code for it is 'CS'. Retry this "
        "request either with the correct VR code or without specifying it.",
    ),
    (
        json.dumps([{"path": "PatientWeight", "level": "Study"}]).encode(),
        400,
        "The VR code 'DS' specified for tag 'PatientWeight' is not supported.",
    ),
    (
        json.dumps([{"path": "00111001", "vr": "UT", "privateCreator": "ACME", "level": "Study"}]).encode(),
        400,
        "The VR code 'UT' specified for tag '00111001' is not supported.",
    ),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
async def test_bad_add_bodies(client, body, status, message):
    response = await client.post("/v2/extendedquerytags", content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.text) == (status, message)


def nested(depth: int) -> bytes:
    """A JSON array ``depth`` arrays deep."""
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [65, 100_000])
async def test_json_nested_deeper_than_64_is_400_on_add_and_patch(client, depth):
    json_type = {"Content-Type": "application/json"}
    response = await client.post("/v2/extendedquerytags", content=nested(depth), headers=json_type)
    assert (response.status_code, response.text) == (400, "The syntax of the request body is invalid.")
    response = await client.patch("/v2/extendedquerytags/PatientAge", content=nested(depth), headers=json_type)
    assert (response.status_code, response.text) == (400, "The syntax of the request body is invalid.")
    object_nest = b'{"a":' * depth + b"1" + b"}" * depth
    response = await client.patch("/v2/extendedquerytags/PatientAge", content=object_nest, headers=json_type)
    assert (response.status_code, response.text) == (400, "The syntax of the request body is invalid.")


async def test_json_nested_64_deep_is_read(client):
    response = await client.post(
        "/v2/extendedquerytags", content=nested(64), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.text.startswith("The field '$[0]' in request body is invalid")


async def test_bad_requests_on_tags(client):
    response = await client.post("/v2/extendedquerytags", content=b"[]", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert (await client.get("/v2/extendedquerytags/NoSuchKeyword")).status_code == 400
    response = await client.get("/v2/extendedquerytags/00101010")
    assert (response.status_code, response.text) == (
        404,
        "The specified extended query tag with tag path 00101010 cannot be found.",
    )
    response = await client.get("/v2/extendedquerytags?limit=0")
    assert response.text == "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."
    assert (await client.get("/v2/extendedquerytags?offset=-1")).status_code == 400
    assert (await client.get("/v2/extendedquerytags/00101010/errors")).status_code == 404
    for body, message in [
        ({}, "The field 'QueryStatus' in request body is invalid: The QueryStatus field is required."),
        (
            {"queryStatus": "on"},
            "The field 'QueryStatus' in request body is invalid: The value is not valid. It need to be one of "
            '"Disabled","Enabled".',
        ),
        (
            {"queryStatus": "Enabled", "x": 1},
            "The field 'x' in request body is invalid: The field is not supported: \"x\".",
        ),
    ]:
        response = await client.patch("/v2/extendedquerytags/PatientAge", json=body)
        assert (response.status_code, response.text) == (400, message)
    async with client.app.state.services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(operation))).scalar_one() == 0


async def test_stow_validates_extended_query_tags_like_core_attributes(fresh):
    await finished(fresh, await add_tags(fresh, [{"path": "InstanceNumber", "level": "Instance"}]))
    invalid = make_dataset()
    invalid[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 4, b"abc ", 0, False, True)
    response = await fresh.post("/v1/studies", content=multipart([to_bytes(invalid)]), headers=STOW)
    assert response.status_code == 409  # v1: an indexed attribute that fails its VR fails the instance
    response = await fresh.post("/v2/studies", content=multipart([to_bytes(invalid)]), headers=STOW)
    assert response.status_code == 202  # v2: stored, the attribute dropped from metadata and index
    metadata = await fresh.get(f"/v2/studies/{invalid.StudyInstanceUID}/metadata", headers={"Accept": DICOM_JSON})
    assert "00200013" not in metadata.json()[0]
    several = make_dataset()
    several[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 4, b"7\\8 ", 0, False, True)
    response = await fresh.post("/v2/studies", content=multipart([to_bytes(several)]), headers=STOW)
    assert response.status_code == 200
    assert "only first value is indexed" in response.headers["warning"]
    (found,) = (await fresh.get("/v2/instances?InstanceNumber=7", headers=ACCEPT)).json()
    assert found["00080018"]["Value"] == [several.SOPInstanceUID]
    assert (await fresh.get("/v2/instances?InstanceNumber=8", headers=ACCEPT)).status_code == 204


async def test_an_operation_that_keeps_failing_ends_failed(fresh, monkeypatch):
    await fresh.app.state.operation_runner.stop()

    async def broken(services, operation, owner):
        raise RuntimeError("the index is on fire")

    monkeypatch.setitem(operation_runner._RUNNERS, "reindex", broken)
    reference = await add_tags(fresh, [{"path": "PatientSex", "level": "Study"}])
    runner = operation_runner.OperationRunner(fresh.app.state.services)
    assert await runner.run_next()
    done = await finished(fresh, reference)
    assert done["status"] == "failed"
    assert not await runner.run_next()  # nothing left to claim
