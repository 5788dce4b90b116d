"""Bad input on every workitem route: Azure's 4xx and texts, never a 500, and nothing stored or changed
(no workitem row, no search row, no partition); SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.errors import INVALID_UID_MESSAGE
from azure_dicom_emulator.storage.schema import partition, workitem, workitem_sequence_value
from harness.workitems import HEADERS, body
from harness.workitems import workitem as valid_workitem

from ..support.app import running_app
from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

SYNTAX = "The syntax of the request body is invalid."


def _nested(depth: int) -> list:
    dataset: dict = {}
    for _ in range(depth):
        dataset = {"0040A370": {"vr": "SQ", "Value": [dataset]}}
    return [dataset]


BAD_BODIES = [
    (b"[{", SYNTAX),
    (b"\xff\xfe", SYNTAX),
    (b"[" * 100000 + b"]" * 100000, SYNTAX),
    (b"{}", "The field '$' in request body is invalid: The value must be an array of DICOM JSON datasets."),
    (b"[]", "The field '$' in request body is invalid: The array must hold at least one dataset."),
    (b"[[[]]]", "The field '$[0]' in request body is invalid: A DICOM JSON dataset must be a JSON object."),
    (
        json.dumps([{"00100010": {"vr": "PN", "Value": ["Doe^John"]}}]).encode(),
        "The field '$[0].00100010.Value[0]' in request body is invalid: The value is not of a JSON type VR PN takes.",
    ),
    (
        json.dumps([{"PatientName": {"vr": "PN"}}]).encode(),
        "The field '$[0].PatientName' in request body is invalid: 'PatientName' is not a DICOM tag of 8 hexadecimal "
        "digits.",
    ),
    (
        json.dumps([{"00100020": {"vr": "LO", "Valu": ["x"]}}]).encode(),
        "The field '$[0].00100020' in request body is invalid: 'Valu' is not a member of a DICOM JSON attribute.",
    ),
    (
        json.dumps([{"00100020": {"vr": "PN"}}]).encode(),
        "The field '$[0].00100020' in request body is invalid: The VR of this attribute is LO, not PN.",
    ),
    (
        json.dumps([{"00100020": {"vr": "LO", "Value": "x"}}]).encode(),
        "The field '$[0].00100020.Value' in request body is invalid: The value must be an array.",
    ),
    (
        json.dumps(_nested(20)).encode(),
        "The field '$[0]" + ".0040A370.Value[0]" * 17 + "' in request body is invalid: "
        "Sequences may nest at most 16 levels deep.",
    ),
]
BAD_BODY_IDS = [
    "truncated",
    "not-utf8",
    "deep-arrays",
    "object",
    "empty-array",
    "nested-arrays",
    "pn-string",
    "keyword-key",
    "unknown-member",
    "wrong-vr",
    "value-not-array",
    "deep-sequences",
]


@pytest_asyncio.fixture(scope="module", params=["sqlite", "postgresql"])
async def app(request, tmp_path_factory):
    """A client of an app on each database; tests count what a request leaves behind, before and after."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    try:
        async with running_app(data_dir=tmp_path_factory.mktemp("data"), database_url=url, cpu_workers=0) as client:
            yield client
    finally:
        if url:
            drop_postgres_database(url)


async def counts(client) -> dict[str, int]:
    async with client.app.state.services.db.read() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (workitem, workitem_sequence_value, partition)
        }


async def send(client, method: str, path: str, content: bytes, headers=HEADERS):
    response = await client.request(method, path, content=content, headers=headers)
    assert response.status_code != 500, response.text
    return response


async def stored(client, uid: str) -> bytes:
    response = await client.get(f"/v2/workitems/{uid}", headers=HEADERS)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize(("content", "message"), BAD_BODIES, ids=BAD_BODY_IDS)
async def test_a_bad_body_on_create_is_400_in_plain_text_and_stores_nothing(app, content, message):
    before = await counts(app)
    response = await send(app, "POST", f"/v2/workitems?{generate_uid()}", content)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == message
    assert await counts(app) == before


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("POST", ""), ("PUT", "/state"), ("POST", "/cancelrequest")],
    ids=["update", "state", "cancel"],
)
@pytest.mark.parametrize(("content", "message"), BAD_BODIES, ids=BAD_BODY_IDS)
async def test_a_bad_body_on_a_workitem_is_400_in_plain_text_and_changes_nothing(app, method, suffix, content, message):
    uid = generate_uid()
    assert (await send(app, "POST", f"/v2/workitems?{uid}", body(valid_workitem()))).status_code == 201
    before, rows = await stored(app, uid), await counts(app)
    response = await send(app, method, f"/v2/workitems/{uid}{suffix}", content)
    assert response.status_code == 400
    assert response.text == message
    assert await stored(app, uid) == before
    assert await counts(app) == rows


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/workitems?abc.123"),
        ("POST", "/v2/workitems?AffectedSOPInstanceUID=11|"),
        ("GET", "/v2/workitems/abc.123"),
        ("POST", "/v2/workitems/" + "1" * 65),
        ("PUT", "/v2/workitems/1.2.a/state"),
        ("POST", "/v2/workitems/1.2.a/cancelrequest"),
    ],
)
async def test_a_bad_workitem_uid_is_400_in_plain_text(app, method, path):
    before = await counts(app)
    response = await send(app, method, path, body(valid_workitem()))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == INVALID_UID_MESSAGE
    assert await counts(app) == before


async def test_a_bad_uid_in_the_dataset_is_400_as_a_json_string_and_stores_nothing(app):
    before = await counts(app)
    response = await send(app, "POST", "/v2/workitems", body(valid_workitem(SOPInstanceUID="1.2.abc")))
    assert response.status_code == 400
    assert response.json().startswith("Dicom element 'SOPInstanceUID' failed validation for VR 'UI'")
    assert await counts(app) == before


async def test_a_bad_create_in_a_new_partition_leaves_no_partition_behind(tmp_path):
    async with running_app(data_dir=tmp_path, partitions_enabled=True, cpu_workers=0) as client:
        response = await send(client, "POST", f"/v2/partitions/ward-b/workitems?{generate_uid()}", b"[]")
        assert response.status_code == 400
        assert await counts(client) == {"workitem": 0, "workitem_sequence_value": 0, "partition": 1}
        response = await send(
            client, "POST", f"/v2/partitions/ward-b/workitems?{generate_uid()}", body(valid_workitem())
        )
        assert response.status_code == 201
        assert (await counts(client))["partition"] == 2
