"""``POST studies/$bulkUpdate``: every refused request gets Azure's status and text and changes nothing."""

from __future__ import annotations

import json
import os

import pytest
import pytest_asyncio
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.storage.schema import operation
from harness.factories import make_dataset

from ..support.app import running_app
from ..support.updates import DICOM_JSON, name_change, start_update, store

SYNTAX = "The syntax of the request body is invalid."
MISSING = "The required field 'StudyInstanceUids' is missing or empty."
INVALID_UID = (
    "Dicom element 'StudyInstanceUid' failed validation for VR 'UI': DICOM Identifier is invalid. Value length "
    "should not exceed the maximum length of 64 characters. Value should contain characters in '0'-'9' and '.'. "
    "Each component must start with non-zero number."
)
NAME = name_change("New^Name")


def body(uids=("1.2.3",), changes=NAME) -> bytes:
    return json.dumps({"studyInstanceUids": list(uids), "changeDataset": changes}).encode()


async def nothing_changed_by(client, request) -> object:
    """The response to ``request()``, after checking that it left no operation row and no file."""
    services = client.app.state.services

    async def state():
        async with services.db.read() as conn:
            rows = (await conn.execute(select(func.count()).select_from(operation))).scalar_one()
        files = sorted(os.path.join(root, name) for root, _, names in os.walk(services.blobs.root) for name in names)
        return rows, files

    before = await state()
    response = await request()
    assert await state() == before
    return response


TEXT_CASES = [
    pytest.param(b"{", SYNTAX, id="malformed-json"),
    pytest.param(b"[" * 100_000, SYNTAX, id="deeply-nested-json"),
    pytest.param(b'{"studyInstanceUids":["' + b"1" * (17 * 1024 * 1024) + b'"]}', SYNTAX, id="huge-body"),
    pytest.param(
        b"[1,2,3]",
        "The field '$' in request body is invalid: The JSON value could not be converted to an update specification.",
        id="not-an-object",
    ),
    pytest.param(
        b'{"studyInstanceUids":"1.2.3","changeDataset":{}}',
        "The field '$.studyInstanceUids' in request body is invalid: The JSON value could not be converted to a "
        "list of study instance UIDs.",
        id="uids-as-a-string",
    ),
    pytest.param(
        b'{"studyInstanceUids":[1],"changeDataset":{}}',
        "The field '$.studyInstanceUids' in request body is invalid: The JSON value could not be converted to a "
        "list of study instance UIDs.",
        id="uids-as-numbers",
    ),
    pytest.param(
        b'{"studyInstanceUids":["1.2.3"],"changeDataset":[]}',
        "The field '$.changeDataset' in request body is invalid: The JSON value could not be converted to a DICOM "
        "dataset.",
        id="change-dataset-as-a-list",
    ),
    pytest.param(
        b'{"studyInstanceUids":["1.2.3"],"changeDataset":{"00100010":"Doe"}}',
        "The field '$.changeDataset' in request body is invalid: The JSON value could not be converted to a DICOM "
        "dataset.",
        id="change-dataset-not-dicom-json",
    ),
    pytest.param(b"{}", MISSING, id="no-uids"),
    pytest.param(body(uids=[]), MISSING, id="empty-uids"),
    pytest.param(
        body(uids=[f"1.2.{n}" for n in range(51)]),
        "StudyInstanceUids count exceeded maximum length '50'",
        id="fifty-one-uids",
    ),
    pytest.param(body(uids=["1.2.3", "abc.123"]), INVALID_UID, id="letters-in-a-uid"),
    pytest.param(body(uids=["1" * 65]), INVALID_UID, id="uid-of-65-characters"),
    pytest.param(body(uids=[""]), INVALID_UID, id="empty-uid"),
    pytest.param(
        b'{"studyInstanceUids":["1.2.3"]}',
        "The field 'ChangeDataset' in request body is invalid: The ChangeDataset field is required.",
        id="no-change-dataset",
    ),
]


@pytest.mark.parametrize(("content", "message"), TEXT_CASES)
async def test_a_bad_body_gets_400_with_azures_text(client, content, message):
    async def post():
        return await client.post(
            "/v2/studies/$bulkUpdate", content=content, headers={"Content-Type": "application/json"}
        )

    response = await nothing_changed_by(client, post)
    assert (response.status_code, response.text) == (400, message)
    assert response.headers["content-type"].startswith("text/plain")


DATASET_CASES = [
    pytest.param(
        {"00080060": {"vr": "CS", "Value": ["MR"]}},
        ["DICOM100: (0008,0060) - Updating the tag is not supported"],
        id="modality",
    ),
    pytest.param(
        {"00080020": {"vr": "DA", "Value": ["20240101"]}},
        ["DICOM100: (0008,0020) - Updating the tag is not supported"],
        id="study-date",
    ),
    pytest.param(
        {"00080018": {"vr": "UI", "Value": ["1.2.3"]}},
        ["DICOM100: (0008,0018) - Updating the tag is not supported"],
        id="sop-instance-uid",
    ),
    pytest.param(
        {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}},
        ["DICOM100: (0020,000d) - Updating the tag is not supported"],
        id="study-instance-uid",
    ),
    pytest.param(
        {**NAME, "00080060": {"vr": "CS", "Value": ["MR"]}, "00100030": {"vr": "DA", "Value": ["2024-01-01"]}},
        [
            "DICOM100: (0008,0060) - Updating the tag is not supported",
            'DICOM100: (0010,0030) - Content "2024-01-01" does not validate VR DA: one of the date values does not '
            "match the pattern YYYYMMDD",
        ],
        id="one-item-per-offending-element",
    ),
    pytest.param(
        {"00100010": {"vr": "LO", "Value": ["Doe^Jane"]}},
        ["DICOM100: (0010,0010) - The VR 'LO' does not match the VR 'PN' of the tag"],
        id="another-vr",
    ),
    pytest.param(
        {"00101010": {"vr": "AS", "Value": ["34 years"]}},
        [
            'DICOM100: (0010,1010) - Content "34 years" does not validate VR AS: value does not match the pattern '
            "nnnD, nnnW, nnnM or nnnY"
        ],
        id="bad-age",
    ),
]


@pytest.mark.parametrize(("changes", "messages"), DATASET_CASES)
async def test_a_change_dataset_azure_refuses_gets_400_with_a_dicom_json_failed_attributes_sequence(
    client, changes, messages
):
    response = await nothing_changed_by(
        client,
        lambda: client.post(
            "/v2/studies/$bulkUpdate", content=body(changes=changes), headers={"Content-Type": "application/json"}
        ),
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(DICOM_JSON)
    items = [item["00000902"] for item in response.json()["00741048"]["Value"]]
    assert items == [{"vr": "LO", "Value": [message]} for message in messages]
    assert list(response.json()) == ["00741048"]


async def test_a_body_that_is_not_json_gets_415_with_an_empty_body(client):
    async def post():
        return await client.post("/v2/studies/$bulkUpdate", content=body(), headers={"Content-Type": "text/plain"})

    response = await nothing_changed_by(client, post)
    assert (response.status_code, response.content) == (415, b"")


async def test_the_bulk_update_route_wins_over_stow_on_studies_slash_anything(client):
    """STOW would answer 415 with its message to this content type; the bulk update answers with none."""
    response = await client.post(
        "/v2/studies/$bulkUpdate", content=b"x", headers={"Content-Type": "application/dicom", "Accept": DICOM_JSON}
    )
    assert (response.status_code, response.content) == (415, b"")


@pytest.mark.parametrize("version", ["v1", "v1.0-prerelease"])
async def test_v1_gets_404_with_an_empty_body_after_the_body_binds(client, version):
    async def post(content):
        return await client.post(
            f"/{version}/studies/$bulkUpdate", content=content, headers={"Content-Type": "application/json"}
        )

    response = await nothing_changed_by(client, lambda: post(body()))
    assert (response.status_code, response.content) == (404, b"")
    malformed = await nothing_changed_by(client, lambda: post(b"{"))
    assert (malformed.status_code, malformed.text) == (400, SYNTAX)


@pytest_asyncio.fixture
async def idle(tmp_path, database_url):
    """An app with data partitions whose operation runner is stopped: operations stay not started."""
    settings = {"data_dir": tmp_path, "partitions_enabled": True}
    if database_url:
        settings["database_url"] = database_url
    async with running_app(**settings) as client:
        await client.app.state.operation_runner.stop()
        yield client


async def test_a_second_update_while_one_is_active_gets_409_in_any_partition(idle):
    ds = make_dataset()
    await store(idle, ds, root="/v2/partitions/one")
    first = await start_update(idle, [ds.StudyInstanceUID], NAME, root="/v2/partitions/one")
    assert first["href"] == f"http://testserver:8080/v2/operations/{first['id']}"  # absolute, no partition
    for partition in ("one", "two"):
        await store(idle, make_dataset(), root=f"/v2/partitions/{partition}")

        async def again(partition=partition):
            return await idle.post(
                f"/v2/partitions/{partition}/studies/$bulkUpdate",
                content=body([generate_uid()]),
                headers={"Content-Type": "application/json"},
            )

        response = await nothing_changed_by(idle, again)
        assert response.status_code == 409
        assert response.text == f"There is already an active update operation with ID '{first['id']}'."
        assert response.headers["content-type"].startswith("text/plain")
        assert "location" not in response.headers
    operation = await idle.get(first["href"].replace("http://testserver:8080", ""))
    assert operation.status_code == 202
    assert operation.json()["status"] == "notStarted"
    assert operation.json()["type"] == "update"
