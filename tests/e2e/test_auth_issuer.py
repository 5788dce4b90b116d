"""The built-in issuer: the token command, its discovery document and keys, and the managed-identity endpoint."""

from __future__ import annotations

import subprocess

import httpx
import jwt
import pytest
from azure.identity import DefaultAzureCredential, ManagedIdentityCredential
from dicomweb_client import DICOMwebClient
from pydicom.uid import generate_uid

from harness.factories import make_dataset, to_bytes
from harness.server import Server, emulator_executable

from ..support.identity_provider import AUDIENCE

pytestmark = pytest.mark.e2e

DICOM = {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = Server(tmp_path_factory.mktemp("issuer") / "data", DICOM_EMULATOR_AUTH_ENABLED="true").start()
    yield running
    running.stop()


def cli_token(server: Server, *arguments: str) -> subprocess.CompletedProcess:
    command = [emulator_executable(), "token", *arguments, "--url", server.url]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_token_command_prints_an_owner_token_that_stores_and_a_reader_token_that_only_reads(server):
    owner = cli_token(server, "--role", "owner")
    reader = cli_token(server, "--role", "reader", "--expires-in", "600")
    assert owner.returncode == 0 and reader.returncode == 0, owner.stderr + reader.stderr
    dataset = make_dataset(study_uid=generate_uid())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        stored = http.post("/v2/studies", content=to_bytes(dataset), headers={**DICOM, **bearer(reader.stdout.strip())})
        assert (stored.status_code, stored.text) == (403, "Authorization failed.")
        stored = http.post("/v2/studies", content=to_bytes(dataset), headers={**DICOM, **bearer(owner.stdout.strip())})
        assert stored.status_code == 200
        found = http.get(f"/v2/studies/{dataset.StudyInstanceUID}/metadata", headers=bearer(reader.stdout.strip()))
        assert found.status_code == 200
    claims = jwt.decode(reader.stdout.strip(), options={"verify_signature": False})
    assert claims["roles"] == ["DicomDataReader"] and claims["exp"] - claims["iat"] == 600
    assert claims["aud"] == AUDIENCE


def test_the_token_command_refuses_an_unknown_role_and_an_unreachable_server(server):
    assert cli_token(server, "--role", "admin").returncode == 2
    unreachable = subprocess.run(
        [emulator_executable(), "token", "--role", "owner", "--url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unreachable.returncode == 1 and "Cannot reach the emulator" in unreachable.stderr
    too_long = cli_token(server, "--role", "owner", "--expires-in", "86401")
    assert too_long.returncode == 1 and "from 1 to 86400" in too_long.stderr


def test_the_discovery_document_and_keys_let_any_client_verify_the_tokens(server):
    configuration = httpx.get(f"{server.url}/emulator/auth/.well-known/openid-configuration").json()
    assert configuration["issuer"] == f"{server.url}/emulator/auth"
    assert configuration["jwks_uri"] == f"{server.url}/emulator/auth/keys"
    token = cli_token(server, "--role", "owner").stdout.strip()
    key = jwt.PyJWKClient(configuration["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=configuration["issuer"])
    assert claims["roles"] == ["DicomDataOwner"] and claims["tid"] and claims["oid"] == claims["sub"]
    assert jwt.get_unverified_header(token)["kid"] == key.key_id


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"role": "admin"}', b'{"role": "owner", "expires_in": 0}',
     b'{"role": "owner", "expires_in": "60"}', b'{"role": "owner", "expires_in": true}',
     b'{"role": "owner", "expires_in": 86401}', b"\xff\xfe"],
)  # fmt: skip
def test_a_bad_token_request_gets_400(server, body):
    response = httpx.post(f"{server.url}/emulator/auth/token", content=body)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")


def test_an_oversized_token_request_gets_413(server):
    response = httpx.post(f"{server.url}/emulator/auth/token", content=b"{" + b" " * 70000 + b"}")
    assert response.status_code == 413


def test_tokens_outlive_a_restart_because_the_key_is_kept_in_the_data_dir(server, tmp_path):
    token = cli_token(server, "--role", "reader").stdout.strip()
    again = Server(server.data_dir, DICOM_EMULATOR_AUTH_ENABLED="true")
    again.port = server.port
    server.stop()
    try:
        again.start()
        assert httpx.get(f"{again.url}/v2/changefeed/latest", headers=bearer(token)).status_code == 200
    finally:
        again.stop()
        server.start()


def test_several_workers_sign_and_accept_each_others_tokens(tmp_path):
    workers = Server(tmp_path / "data", DICOM_EMULATOR_AUTH_ENABLED="true", DICOM_EMULATOR_WORKERS="2").start()
    try:
        tokens = []
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            with httpx.Client(base_url=workers.url, timeout=30) as one_shot:
                tokens.append(one_shot.post("/emulator/auth/token", json={"role": "reader"}).json()["access_token"])
        for token in tokens:
            with httpx.Client(base_url=workers.url, timeout=30) as one_shot:
                assert one_shot.get("/v2/changefeed", headers=bearer(token)).status_code == 200
        assert len({jwt.get_unverified_header(token)["kid"] for token in tokens}) == 1
    finally:
        workers.stop()


@pytest.fixture
def managed_identity(server, monkeypatch):
    """The two variables App Service sets, pointing at the emulator."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{server.url}/emulator/auth/identity")
    monkeypatch.setenv("IDENTITY_HEADER", "local-secret")
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "IDENTITY_SERVER_THUMBPRINT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("credential_type", [ManagedIdentityCredential, DefaultAzureCredential])
def test_azure_identity_gets_a_token_from_the_managed_identity_endpoint_and_dicomweb_client_uses_it(
    server, managed_identity, credential_type
):
    credential = credential_type()
    access = credential.get_token(f"{AUDIENCE}/.default")
    claims = jwt.decode(access.token, options={"verify_signature": False})
    assert claims["aud"] == AUDIENCE and claims["roles"] == ["DicomDataOwner"]
    client = DICOMwebClient(f"{server.url}/v2", headers=bearer(access.token))
    dataset = make_dataset(study_uid=generate_uid())
    client.store_instances([dataset])
    [retrieved] = client.retrieve_study(dataset.StudyInstanceUID)
    assert retrieved.SOPInstanceUID == dataset.SOPInstanceUID
    assert to_bytes(retrieved) == to_bytes(dataset)


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ({"resource": AUDIENCE, "api-version": "2019-08-01"}, {}, "The X-IDENTITY-HEADER header is required."),
        ({"resource": AUDIENCE, "api-version": "2017-09-01"}, {"X-IDENTITY-HEADER": "s"}, "api-version"),
        ({"api-version": "2019-08-01"}, {"X-IDENTITY-HEADER": "s"}, "The resource parameter is required."),
        ({"resource": "https://management.azure.com", "api-version": "2019-08-01"}, {"X-IDENTITY-HEADER": "s"},
         "The resource must be one of"),
    ],
)  # fmt: skip
def test_the_managed_identity_endpoint_answers_400_in_app_services_json_for_a_bad_request(
    server, query, headers, message
):
    response = httpx.get(f"{server.url}/emulator/auth/identity", params=query, headers=headers)
    assert response.status_code == 400
    assert response.json()["statusCode"] == 400 and message in response.json()["message"]


def test_the_managed_identity_endpoint_accepts_the_resource_with_a_trailing_slash(server):
    response = httpx.get(
        f"{server.url}/emulator/auth/identity",
        params={"resource": AUDIENCE + "/", "api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": "s"},
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["resource"] == AUDIENCE + "/" and answer["token_type"] == "Bearer" and answer["expires_on"].isdigit()
    authorized = httpx.get(f"{server.url}/v2/changefeed/latest", headers=bearer(answer["access_token"]))
    assert authorized.status_code == 200
