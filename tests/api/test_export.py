"""Export to Azure Blob Storage in-process, against Azurite's blob service, on SQLite and PostgreSQL.

The operation's counts are read from its checkpoint (``results``), where every batch records them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from azure.storage.blob import ContainerSasPermissions
from azure.storage.blob._shared_access_signature import BlobSharedAccessSignature
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.features.export import operation as export_operation
from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION
from azure_dicom_emulator.storage import operations
from azure_dicom_emulator.storage.azure_blob_client import container_from_connection_string
from azure_dicom_emulator.storage.schema import operation
from harness.azurite import AZURITE_KEY, new_container
from harness.factories import make_dataset, multipart, to_bytes
from harness.loopback import free_port

from ..conftest import OTHER_ACCOUNT
from ..support.app import running_app

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
AS_STORED = {"Accept": "application/dicom; transfer-syntax=*"}


@pytest_asyncio.fixture
async def fresh(tmp_path, database_url):
    """An empty app exporting two instances per batch."""
    settings = {"data_dir": tmp_path, "operation_poll_seconds": 0.1, "export_batch_size": 2}
    if database_url:
        settings["database_url"] = database_url
    async with running_app(**settings) as client:
        yield client


@pytest.fixture
def container(azurite_blob):
    return new_container(azurite_blob, f"export-{uuid.uuid4().hex[:12]}")


def to_container(azurite, name: str) -> dict:
    settings = {"connectionString": azurite.connection_string, "blobContainerName": name}
    return {"type": "azureblob", "settings": settings}


def of(*identifiers: str) -> dict:
    return {"type": "identifiers", "settings": {"values": list(identifiers)}}


def uid_path(ds, level: int = 3) -> str:
    return "/".join([ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID][:level])


async def store(client, *datasets, root: str = "/v2", method: str = "POST") -> None:
    body = multipart([to_bytes(ds) for ds in datasets])
    response = await client.request(method, f"{root}/studies", content=body, headers=STOW)
    assert response.status_code == 200, response.text


async def start(client, body: dict, root: str = "/v2") -> dict:
    response = await client.post(f"{root}/export", json=body)
    assert response.status_code == 202, response.text
    reference = response.json()
    assert response.headers["location"] == reference["href"]
    assert response.headers.get_list("api-supported-versions") == ["1, 2"]
    assert len(reference["id"]) == 32
    return reference


async def finished(client, operation_id: str):
    for _ in range(600):
        async with client.app.state.services.db.read() as conn:
            row = await operations.find(conn, operation_id)
        if row.status not in operations.ACTIVE:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError("the export did not finish")


def results_of(row) -> dict:
    return json.loads(row.checkpoint)["results"]


async def stored_bytes(client, ds, root: str = "/v2") -> bytes:
    path = f"{root}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
    response = await client.get(path, headers=AS_STORED)
    assert response.status_code == 200
    return response.content


def exported(container, operation_id: str) -> dict[str, bytes]:
    prefix = f"{operation_id}/results/"
    return {
        blob.name.removeprefix(prefix): container.download_blob(blob.name).readall()
        for blob in container.list_blobs(name_starts_with=prefix)
    }


def error_lines(container, operation_id: str) -> list[dict]:
    text = container.download_blob(f"{operation_id}/errors.log").readall().decode()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


async def test_identifiers_export_the_latest_bytes_to_results_paths_and_unknown_ones_are_skipped_and_logged(
    fresh, azurite_blob, container
):
    study, series = generate_uid(), generate_uid()
    first = [make_dataset(study, series), make_dataset(study, series), make_dataset(study)]
    second = make_dataset()
    third_study, third_series = generate_uid(), generate_uid()
    third = [make_dataset(third_study, third_series) for _ in range(2)]
    await store(fresh, *first, second, *third)
    changed = make_dataset(study, series, first[0].SOPInstanceUID, PatientName="Changed^Name")
    await store(fresh, changed, method="PUT")
    unknown_study = generate_uid()
    unknown_sop = f"{uid_path(third[0], 2)}/{generate_uid()}"
    unknown_series = f"{second.StudyInstanceUID}/{generate_uid()}"
    values = [study, uid_path(second, 2), uid_path(third[1]), unknown_study, unknown_sop, unknown_series]
    reference = await start(
        fresh, {"source": of(*values), "destination": to_container(azurite_blob, container.container_name)}
    )
    row = await finished(fresh, reference["id"])
    assert row.status == "succeeded"
    assert results_of(row) == {
        "exported": 5,
        "skipped": 3,
        "errorHref": f"{azurite_blob.endpoint}/{container.container_name}/{reference['id']}/errors.log",
    }
    copies = exported(container, reference["id"])
    expected = [changed, *first[1:], second, third[1]]
    assert sorted(copies) == sorted(f"{uid_path(ds)}.dcm" for ds in expected)
    for ds in expected:
        assert copies[f"{uid_path(ds)}.dcm"] == await stored_bytes(fresh, ds)
    assert b"Changed^Name" in copies[f"{uid_path(changed)}.dcm"]
    lines = error_lines(container, reference["id"])
    assert [(line["identifier"], line["error"]) for line in lines] == [
        (unknown_study, "The specified study cannot be found."),
        (unknown_sop, "The specified instance cannot be found."),
        (unknown_series, "The specified series cannot be found."),
    ]
    assert all(set(line) == {"timestamp", "identifier", "error"} for line in lines)
    assert all(datetime.fromisoformat(line["timestamp"]).utcoffset() == timedelta(0) for line in lines)


async def test_a_source_left_out_exports_everything_in_the_partition_checkpointing_counts_every_batch(
    fresh, azurite_blob, container
):
    datasets = [make_dataset() for _ in range(5)]
    await store(fresh, *datasets)
    await fresh.app.state.operation_runner.stop()  # batches are run one by one below
    reference = await start(fresh, {"destination": to_container(azurite_blob, container.container_name)})
    await store(fresh, make_dataset())  # stored after the request: not part of the export
    services = fresh.app.state.services
    async with services.db.write() as conn:
        claimed = await operations.claim(conn, "test-owner", 60, ["export"])
    assert claimed.operation_id == reference["id"]
    counts = []
    for _ in range(10):
        async with services.db.read() as conn:
            current = await operations.find(conn, reference["id"])
        done = await export_operation.run_batch(services, current, "test-owner")
        async with services.db.read() as conn:
            row = await operations.find(conn, reference["id"])
        counts.append((row.status, results_of(row)["exported"]))
        if done:
            break
    assert counts == [("running", 2), ("running", 4), ("succeeded", 5)]
    assert sorted(exported(container, reference["id"])) == sorted(f"{uid_path(ds)}.dcm" for ds in datasets)
    assert error_lines(container, reference["id"]) == []


async def test_v1_exports_and_answers_with_a_v1_href(fresh, azurite_blob, container):
    ds = make_dataset()
    await store(fresh, ds, root="/v1")
    reference = await start(
        fresh,
        {"source": of(ds.StudyInstanceUID), "destination": to_container(azurite_blob, container.container_name)},
        root="/v1",
    )
    assert reference["href"] == f"http://testserver:8080/v1/operations/{reference['id']}"
    row = await finished(fresh, reference["id"])
    assert results_of(row)["exported"] == 1
    response = await fresh.get(f"/v1/operations/{reference['id']}")
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["type"] == "export"


async def test_a_container_uri_with_managed_identity_on_azurite_uses_the_development_key(
    fresh, azurite_blob, container
):
    ds = make_dataset()
    await store(fresh, ds)
    uri = f"{azurite_blob.endpoint}/{container.container_name}"
    destination = {"type": "AzureBlob", "settings": {"blobContainerUri": uri, "useManagedIdentity": True}}
    reference = await start(fresh, {"source": of(uid_path(ds)), "destination": destination})
    row = await finished(fresh, reference["id"])
    assert results_of(row) == {"exported": 1, "skipped": 0, "errorHref": f"{uri}/{reference['id']}/errors.log"}
    assert exported(container, reference["id"]) == {f"{uid_path(ds)}.dcm": await stored_bytes(fresh, ds)}


async def test_a_container_uri_of_another_account_uses_the_connection_string_configured_for_its_prefix(
    tmp_path, azurite_blob
):
    name = f"other-{uuid.uuid4().hex[:12]}"
    connection = azurite_blob.account_connection_string(OTHER_ACCOUNT)
    container_from_connection_string(
        connection, name, api_version=DEFAULT_BLOB_API_VERSION, asynchronous=False
    ).create_container()
    uri = f"{azurite_blob.account_endpoint(OTHER_ACCOUNT)}/{name}"
    destination = {"type": "azureblob", "settings": {"blobContainerUri": uri, "useManagedIdentity": True}}
    ds = make_dataset()
    async with running_app(data_dir=tmp_path / "without", operation_poll_seconds=0.1) as client:
        await store(client, ds)
        response = await client.post("/v2/export", json={"source": of(uid_path(ds)), "destination": destination})
        assert response.status_code == 400
        assert f"container '{name}'" in response.text
        assert response.text.endswith(f"account '{OTHER_ACCOUNT}'.")
    credentials = {azurite_blob.account_endpoint(OTHER_ACCOUNT) + "/": connection}
    async with running_app(
        data_dir=tmp_path / "with", operation_poll_seconds=0.1, export_credentials=credentials
    ) as client:
        await store(client, ds)
        reference = await start(client, {"source": of(uid_path(ds)), "destination": destination})
        row = await finished(client, reference["id"])
        assert results_of(row) == {"exported": 1, "skipped": 0, "errorHref": f"{uri}/{reference['id']}/errors.log"}


async def test_a_container_uri_with_a_sas_writes_with_it_and_the_error_href_leaves_it_out(
    fresh, azurite_blob, container
):
    ds = make_dataset()
    await store(fresh, ds)
    # generate_container_sas signs for the library's newest version, which the pinned Azurite refuses.
    signer = BlobSharedAccessSignature("devstoreaccount1", AZURITE_KEY)
    signer.x_ms_version = DEFAULT_BLOB_API_VERSION
    sas = signer.generate_container(
        container.container_name,
        permission=ContainerSasPermissions(read=True, add=True, create=True, write=True, list=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    uri = f"{azurite_blob.endpoint}/{container.container_name}"
    destination = {"type": "azureblob", "settings": {"blobContainerUri": f"{uri}?{sas}"}}
    reference = await start(fresh, {"source": of(ds.StudyInstanceUID, generate_uid()), "destination": destination})
    row = await finished(fresh, reference["id"])
    assert results_of(row) == {"exported": 1, "skipped": 1, "errorHref": f"{uri}/{reference['id']}/errors.log"}
    assert len(error_lines(container, reference["id"])) == 1


async def test_a_partition_exports_only_its_own_instances_and_the_href_has_no_partition(
    tmp_path, azurite_blob, container
):
    north, south = make_dataset(), make_dataset()
    async with running_app(data_dir=tmp_path, partitions_enabled=True, operation_poll_seconds=0.1) as client:
        await store(client, north, root="/v2/partitions/north")
        await store(client, south, root="/v2/partitions/south")
        destination = to_container(azurite_blob, container.container_name)
        everything = await start(client, {"destination": destination}, root="/v2/partitions/north")
        assert everything["href"] == f"http://testserver:8080/v2/operations/{everything['id']}"
        named = await start(
            client, {"source": of(south.StudyInstanceUID), "destination": destination}, root="/v2/partitions/north"
        )
        assert results_of(await finished(client, everything["id"]))["exported"] == 1
        assert results_of(await finished(client, named["id"]))["skipped"] == 1
        assert exported(container, everything["id"]) == {
            f"{uid_path(north)}.dcm": await stored_bytes(client, north, root="/v2/partitions/north")
        }
        assert exported(container, named["id"]) == {}
        assert await refused_here(client, container, "/v2/partitions/nowhere/export", {"destination": destination}) == (
            "Specified PartitionName does not exist."
        )


async def refused_here(client, container, path: str, body: dict) -> str:
    """A refused export on an app that ran others: no new operation row and no new blob."""
    async with client.app.state.services.db.read() as conn:
        before = (await conn.execute(select(func.count()).select_from(operation))).scalar_one()
    blobs = len(list(container.list_blobs()))
    response = await client.post(path, json=body)
    assert response.status_code == 400
    async with client.app.state.services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(operation))).scalar_one() == before
    assert len(list(container.list_blobs())) == blobs
    return response.text


# -- refusals: Azure's status and text, and nothing left behind --------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def shared(tmp_path_factory):
    async with running_app(data_dir=tmp_path_factory.mktemp("data")) as client:
        yield client


async def refused(client, container, status: int, body=None, **request) -> str:
    """POSTs to export, checks the status and that no operation row and no blob were left, returns the text."""
    if body is not None:
        request["content"] = body if isinstance(body, bytes) else json.dumps(body).encode()
        request.setdefault("headers", {"Content-Type": "application/json"})
    response = await client.post(request.pop("path", "/v2/export"), **request)
    assert response.status_code == status, response.text
    assert response.headers.get_list("api-supported-versions") == ["1, 2"]
    if response.text:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    async with client.app.state.services.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(operation))).scalar_one() == 0
    if container is not None:
        assert list(container.list_blobs()) == []
    return response.text


REFUSALS = [
    pytest.param("unknown source type", "Unsupported export source 'query'.", id="unknown-source"),
    pytest.param("unknown destination type", "Unsupported export destination 's3'.", id="unknown-destination"),
    pytest.param("no values", "Missing value for property 'Values'.", id="no-values"),
    pytest.param(
        "four segments",
        "The string '1.2/3.4/5.6/7.8' was not recognized as a valid DICOM identifier.",
        id="four-segment-identifier",
    ),
    pytest.param("no container name", "Please specify both ConnectionString and BlobContainerName.", id="no-name"),
    pytest.param(
        "uri and connection string",
        "ConnectionString and BlobContainerName cannot be specified along with BlobContainerUri.",
        id="uri-and-connection-string",
    ),
    pytest.param(
        "managed identity and connection string",
        "Managed identity cannot be used with a ConnectionString.",
        id="managed-identity-and-connection-string",
    ),
    pytest.param(
        "source no object",
        "The field '$.source' in request body is invalid: The JSON value could not be converted to an export source.",
        id="source-no-object",
    ),
    pytest.param(
        "malformed connection string",
        "Cannot connect to Azure Blob Storage container 'out' in account ''.",
        id="malformed-connection-string",
    ),
    pytest.param("no json", "The syntax of the request body is invalid.", id="no-json"),
    pytest.param("deep nesting", "The syntax of the request body is invalid.", id="deep-nesting"),
    pytest.param("huge", "The request exceeded the allowed limit of 4194304 bytes.", id="over-4-mib"),
]


def refused_body(case: str, azurite, name: str) -> object:
    """The body of a refusal case, for a destination container ``name``."""
    good = to_container(azurite, name)
    pair = {"connectionString": azurite.connection_string, "blobContainerName": name}
    bodies = {
        "unknown source type": lambda: {"source": {"type": "query"}, "destination": good},
        "unknown destination type": lambda: {"source": of("1.2"), "destination": {"type": "s3"}},
        "no values": lambda: {"source": of(), "destination": good},
        "four segments": lambda: {"source": of("1.2/3.4/5.6/7.8"), "destination": good},
        "no container name": lambda: {
            "source": of("1.2"),
            "destination": {"type": "azureblob", "settings": {"connectionString": azurite.connection_string}},
        },
        "uri and connection string": lambda: {
            "source": of("1.2"),
            "destination": {
                "type": "azureblob",
                "settings": {**pair, "blobContainerUri": f"{azurite.endpoint}/{name}"},
            },
        },
        "managed identity and connection string": lambda: {
            "source": of("1.2"),
            "destination": {"type": "azureblob", "settings": {**pair, "useManagedIdentity": True}},
        },
        "source no object": lambda: {"source": 1, "destination": good},
        "malformed connection string": lambda: {
            "destination": {"type": "azureblob", "settings": {"connectionString": "x", "blobContainerName": "out"}}
        },
        "no json": lambda: b"{",
        "deep nesting": lambda: b'{"source":' * 5000 + b"1" + b"}" * 5000,
        "huge": lambda: json.dumps({"source": of(*["1.2"] * 700_000), "destination": good}).encode(),
    }
    return bodies[case]()


@pytest.mark.parametrize(("case", "text"), REFUSALS)
async def test_each_bad_request_is_400_with_azure_text_and_leaves_no_operation_and_no_blob(
    shared, azurite_blob, container, case, text
):
    assert await refused(shared, container, 400, refused_body(case, azurite_blob, container.container_name)) == text


async def test_a_body_that_is_not_json_is_415_and_a_prerelease_version_404_with_an_empty_body(
    shared, azurite_blob, container
):
    body = {"destination": to_container(azurite_blob, container.container_name)}
    assert await refused(shared, container, 415, body, headers={"Content-Type": "text/plain"}) == ""
    assert await refused(shared, container, 415, body, headers={}) == ""
    assert await refused(shared, container, 404, body, path="/v1.0-prerelease/export") == ""


async def test_a_missing_container_is_400_does_not_exist_in_account(shared, azurite_blob):
    name = f"missing-{uuid.uuid4().hex[:12]}"
    text = await refused(shared, None, 400, {"destination": to_container(azurite_blob, name)})
    assert text == f"Azure Blob Storage container '{name}' does not exist in account 'devstoreaccount1'."
    never_created = container_from_connection_string(
        azurite_blob.connection_string, name, api_version=DEFAULT_BLOB_API_VERSION, asynchronous=False
    )
    assert not never_created.exists()


async def test_an_account_nothing_listens_for_is_400_cannot_connect(shared):
    uri = f"http://127.0.0.1:{free_port()}/devstoreaccount1/out"
    for settings in (
        {"blobContainerUri": uri, "useManagedIdentity": True},
        {
            "connectionString": f"AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};BlobEndpoint={uri[:-4]}",
            "blobContainerName": "out",
        },
    ):
        text = await refused(shared, None, 400, {"destination": {"type": "azureblob", "settings": settings}})
        assert text == "Cannot connect to Azure Blob Storage container 'out' in account 'devstoreaccount1'."


async def test_an_account_that_never_answers_is_400_cannot_connect_instead_of_a_hang(shared):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        uri = f"http://127.0.0.1:{listener.getsockname()[1]}/devstoreaccount1/out"
        body = {"destination": {"type": "azureblob", "settings": {"blobContainerUri": uri}}}
        text = await refused(shared, None, 400, body)
    assert text == "Cannot connect to Azure Blob Storage container 'out' in account 'devstoreaccount1'."


async def test_a_wrong_account_key_is_400_unable_to_authenticate(shared, azurite_blob, container):
    wrong = azurite_blob.connection_string.replace(AZURITE_KEY, "d3Jvbmc=")
    settings = {"connectionString": wrong, "blobContainerName": container.container_name}
    text = await refused(shared, container, 400, {"destination": {"type": "azureblob", "settings": settings}})
    assert text == (
        f"Unable to authenticate for Azure Blob Storage container '{container.container_name}' "
        "in account 'devstoreaccount1'."
    )


async def test_the_client_speaks_the_configured_api_version_which_azurite_refuses_when_too_new(
    tmp_path, azurite_blob, container
):
    async with running_app(data_dir=tmp_path, blob_api_version="2026-10-06") as client:
        body = {"destination": to_container(azurite_blob, container.container_name)}
        assert await refused(client, container, 400, body) == (
            f"Failed to write to Azure Blob Storage container '{container.container_name}' "
            "in account 'devstoreaccount1'."
        )


async def test_strict_mode_refuses_a_real_account_key_with_400_and_still_takes_azurite(
    tmp_path, azurite_blob, container
):
    real = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.windows.net"
    async with running_app(data_dir=tmp_path, export_strict=True, operation_poll_seconds=0.1) as client:
        body = {"destination": {"type": "azureblob", "settings": {"connectionString": real, "blobContainerName": "o"}}}
        assert await refused(client, container, 400, body) == "Account key authentication is not supported."
        reference = await start(client, {"destination": to_container(azurite_blob, container.container_name)})
        assert (await finished(client, reference["id"])).status == "succeeded"
