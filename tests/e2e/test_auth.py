"""Authentication and roles end to end: the real server checking tokens of an Entra-like issuer on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydicom.uid import generate_uid

from harness.factories import make_dataset, to_bytes
from harness.server import Server

from ..support.events import wait_until
from ..support.identity_provider import AUDIENCE, IdentityProvider, new_key
from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.e2e

VERSIONS = ["v1.0-prerelease", "v1", "v2"]
DICOM = {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}
JSON_ACCEPT = {"Accept": "application/dicom+json"}
CHALLENGE = f'Bearer authorization_uri="{{issuer}}", resource_id="{AUDIENCE}", realm="{AUDIENCE}"'
UNKNOWN_OPERATION = "0123456789abcdef0123456789abcdef"


def route_families(study: str, series: str, sop: str) -> list[tuple[str, str]]:
    """One request of every versioned route family (method, path after the version)."""
    instance = f"studies/{study}/series/{series}/instances/{sop}"
    return [
        ("POST", "studies"),
        ("PUT", f"studies/{study}"),
        ("GET", instance),
        ("GET", f"{instance}/metadata"),
        ("GET", f"{instance}/frames/1"),
        ("GET", f"{instance}/rendered"),
        ("GET", "studies"),
        ("GET", f"studies/{study}/series"),
        ("DELETE", f"studies/{study}"),
        ("GET", "changefeed"),
        ("GET", "changefeed/latest"),
        ("GET", "extendedquerytags"),
        ("POST", "extendedquerytags"),
        ("GET", "extendedquerytags/PatientAge"),
        ("PATCH", "extendedquerytags/PatientAge"),
        ("DELETE", "extendedquerytags/PatientAge"),
        ("GET", "extendedquerytags/PatientAge/errors"),
        ("GET", f"operations/{UNKNOWN_OPERATION}"),
        ("GET", "partitions"),
        ("GET", "partitions/default/studies"),
    ]


@pytest.fixture(scope="module")
def provider():
    running = IdentityProvider().start()
    yield running
    running.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, provider, tmp_path_factory):
    """A server checking tokens of ``provider``, its keys found through discovery, on each database."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    env = {"DICOM_EMULATOR_AUTH_ENABLED": "true", "DICOM_EMULATOR_AUTH_ISSUER": provider.issuer}
    running = Server(tmp_path_factory.mktemp("auth") / "data", url, **env).start()
    yield running
    running.stop()
    if url:
        drop_postgres_database(url)


@pytest.fixture(scope="module")
def stored(server, provider):
    """A study the owner stored: (study, series, sop)."""
    dataset = make_dataset(study_uid=generate_uid())
    response = httpx.post(
        f"{server.url}/v2/studies", content=to_bytes(dataset), headers={**DICOM, **bearer(provider.token())}
    )
    assert response.status_code == 200, response.text
    return dataset.StudyInstanceUID, dataset.SeriesInstanceUID, dataset.SOPInstanceUID


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def segment(document: dict) -> str:
    """``document`` as a JWT segment: JSON, base64url without padding."""
    return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()


def hmac_signed(claims: dict, secret: bytes) -> str:
    """An HS256 token with ``secret`` (PyJWT refuses to make one with a public key, so it is made here)."""
    signing_input = f"{segment({'alg': 'HS256', 'kid': 'key-1', 'typ': 'JWT'})}.{segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def unused_study_query() -> str:
    """A QIDO path that matches nothing: 204 once authorized."""
    return f"/v2/studies?StudyInstanceUID={generate_uid()}"


def unauthenticated_causes(provider: IdentityProvider) -> dict[str, dict[str, str]]:
    """The Authorization headers of each 401 cause."""
    now = int(time.time())
    return {
        "missing": {},
        "malformed": bearer("abc.def.ghi"),
        "not bearer": {"Authorization": f"Basic {provider.token()}"},
        "expired": bearer(provider.token(exp=now - 600, iat=now - 4200, nbf=now - 4200)),
        "not yet valid": bearer(provider.token(nbf=2000000000, exp=2000003600)),
        "signed by another key under the same kid": bearer(provider.token(key=new_key())),
        "wrong issuer": bearer(provider.token(iss="https://evil.example.invalid/")),
        "wrong audience": bearer(provider.token(aud="https://management.azure.com")),
        "no expiry": bearer(provider.token(exp=None)),
    }


def test_every_route_family_in_every_version_answers_401_with_an_empty_body_for_each_bad_token(
    server, provider, stored
):
    issuer_challenge = CHALLENGE.format(issuer=provider.issuer)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for cause, headers in unauthenticated_causes(provider).items():
            for version in VERSIONS:
                for method, path in route_families(*stored):
                    response = http.request(method, f"/{version}/{path}", headers=headers)
                    where = f"{cause}: {method} /{version}/{path}"
                    assert response.status_code == 401, where
                    assert response.content == b"", where
                    challenge = response.headers["www-authenticate"]
                    assert challenge.startswith(issuer_challenge), where
                    if headers and cause != "not bearer":
                        assert ', error="invalid_token", error_description="' in challenge, where
                    else:
                        assert challenge == issuer_challenge, where


def test_a_401_leaves_the_index_unchanged(server, provider, stored):
    owner = bearer(provider.token())
    latest = httpx.get(f"{server.url}/v2/changefeed/latest", headers=owner).json()
    fresh = make_dataset(study_uid=generate_uid())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/v2/studies", content=to_bytes(fresh), headers=DICOM).status_code == 401
        assert http.delete(f"/v2/studies/{stored[0]}").status_code == 401
        tags = [{"path": "PatientAge", "vr": "AS", "level": "Study"}]
        assert http.post("/v2/extendedquerytags", json=tags).status_code == 401
        assert http.get("/v2/changefeed/latest", headers=owner).json() == latest
        assert http.get(f"/v2/studies/{stored[0]}/metadata", headers={**JSON_ACCEPT, **owner}).status_code == 200
        assert (
            http.get(f"/v2/studies/{fresh.StudyInstanceUID}/metadata", headers={**JSON_ACCEPT, **owner}).status_code
            == 404
        )
        assert http.get("/v2/extendedquerytags", headers=owner).json() == []


def test_the_health_check_and_the_emulator_routes_stay_anonymous(server):
    assert httpx.get(f"{server.url}/health/check").status_code == 200
    assert httpx.get(f"{server.url}/emulator/events").status_code == 200


def test_the_built_in_issuer_is_off_when_another_issuer_is_configured(server):
    response = httpx.post(f"{server.url}/emulator/auth/token", json={"role": "owner"})
    assert response.status_code == 404
    assert "DICOM_EMULATOR_AUTH_ISSUER" in response.text


def test_an_unknown_route_is_404_with_or_without_a_token(server, provider):
    assert httpx.get(f"{server.url}/v2/nothing-here").status_code == 404
    assert httpx.get(f"{server.url}/v2/nothing-here", headers=bearer(provider.token())).status_code == 404


def test_a_cors_preflight_needs_no_token_and_a_401_carries_the_cors_headers(server):
    preflight = httpx.options(
        f"{server.url}/v2/studies",
        headers={"Origin": "http://viewer.example", "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    refused = httpx.get(f"{server.url}/v2/studies", headers={"Origin": "http://viewer.example"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"
    assert "WWW-Authenticate" in refused.headers["access-control-expose-headers"]


def test_a_403_carries_the_cors_headers(server, provider):
    refused = httpx.get(
        f"{server.url}/v2/studies", headers={"Origin": "http://viewer.example", **bearer(provider.token(roles=[]))}
    )
    assert refused.status_code == 403
    assert refused.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("audience", [AUDIENCE, AUDIENCE + "/", [AUDIENCE + "/", "https://other.example"]])
def test_the_audience_is_accepted_with_and_without_its_trailing_slash(server, provider, audience):
    response = httpx.get(server.url + unused_study_query(), headers=bearer(provider.token(aud=audience)))
    assert response.status_code == 204


@pytest.mark.parametrize("roles", [[], ["Reader"], ["dicomdataowner"], "DicomDataOwner", [["DicomDataOwner"]]])
def test_a_valid_token_without_a_dicom_role_gets_403_authorization_failed_even_on_reads(server, provider, roles):
    response = httpx.get(f"{server.url}/v2/studies", headers=bearer(provider.token(roles=roles)))
    assert response.status_code == 403
    assert response.text == "Authorization failed."
    assert response.headers["content-type"].startswith("text/plain")


def test_a_token_without_a_roles_claim_gets_403(server, provider):
    claims = provider.claims()
    del claims["roles"]
    token = jwt.encode(claims, provider.keys["key-1"], algorithm="RS256", headers={"kid": "key-1"})
    assert httpx.get(f"{server.url}/v2/studies", headers=bearer(token)).status_code == 403


@pytest.mark.parametrize(
    "role", ["DicomDataOwner", "58a3b984-7adf-4c20-983a-32417c86fbc8", "globalAdmin", "DicomDataReader",
             "e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a", "globalReader"],
)  # fmt: skip
def test_each_built_in_role_and_its_guid_may_read(server, provider, role, stored):
    headers = {**JSON_ACCEPT, **bearer(provider.token(roles=[role]))}
    response = httpx.get(f"{server.url}/v2/studies/{stored[0]}/metadata", headers=headers)
    assert response.status_code == 200


@pytest.mark.parametrize("role", ["DicomDataReader", "e89c7a3c-2f64-4fa1-a847-3e4c9ba4283a", "globalReader"])
def test_a_reader_gets_403_on_every_write_delete_and_tag_change_and_nothing_changes(server, provider, role, stored):
    reader = bearer(provider.token(roles=[role]))
    owner = bearer(provider.token())
    study, series, sop = stored
    fresh = make_dataset(study_uid=study)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        latest = http.get("/v2/changefeed/latest", headers=owner).json()
        tags = [{"path": "PatientAge", "vr": "AS", "level": "Study"}]
        refused = [
            http.post("/v2/studies", content=to_bytes(fresh), headers={**DICOM, **reader}),
            http.put(f"/v2/studies/{study}", content=to_bytes(fresh), headers={**DICOM, **reader}),
            http.delete(f"/v2/studies/{study}/series/{series}/instances/{sop}", headers=reader),
            http.delete(f"/v2/studies/{study}", headers=reader),
            http.post("/v2/extendedquerytags", json=tags, headers=reader),
            http.patch("/v2/extendedquerytags/PatientAge", json={"QueryStatus": "Disabled"}, headers=reader),
            http.delete("/v2/extendedquerytags/PatientAge", headers=reader),
        ]
        for response in refused:
            where = f"{response.request.method} {response.request.url.path}"
            assert (response.status_code, response.text) == (403, "Authorization failed."), where
        assert http.get("/v2/changefeed/latest", headers=owner).json() == latest
        assert http.get("/v2/extendedquerytags", headers=owner).json() == []
        found = http.get(f"/v2/studies/{study}/instances", headers={**JSON_ACCEPT, **owner}).json()
        assert [instance["00080018"]["Value"][0] for instance in found] == [sop]


def test_a_reader_reads_searches_and_follows_the_change_feed(server, provider, stored):
    reader = bearer(provider.token(roles=["DicomDataReader"]))
    study, series, sop = stored
    instance = f"/v2/studies/{study}/series/{series}/instances/{sop}"
    with httpx.Client(base_url=server.url, timeout=30, headers=reader) as http:
        assert http.get(f"/v2/studies?StudyInstanceUID={study}", headers=JSON_ACCEPT).status_code == 200
        assert http.get(f"{instance}/metadata", headers=JSON_ACCEPT).status_code == 200
        retrieved = http.get(instance, headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert retrieved.status_code == 200
        assert http.get(f"{instance}/frames/1", headers={"Accept": "application/octet-stream"}).status_code == 200
        assert http.get("/v2/changefeed/latest").status_code == 200
        assert http.get("/v2/changefeed").status_code == 200
        assert http.get("/v2/extendedquerytags").status_code == 200
        # Authorized, the handler answers: 404 for an unknown operation, 400 without partitions.
        assert http.get(f"/v2/operations/{UNKNOWN_OPERATION}").status_code == 404
        assert http.get("/v2/partitions").status_code == 400


def test_an_owner_stores_reads_manages_tags_and_deletes(server, provider):
    owner = bearer(provider.token(roles=["DicomDataOwner"]))
    dataset = make_dataset(study_uid=generate_uid())
    study = dataset.StudyInstanceUID
    with httpx.Client(base_url=server.url, timeout=30, headers=owner) as http:
        assert http.post("/v2/studies", content=to_bytes(dataset), headers=DICOM).status_code == 200
        assert http.put(f"/v2/studies/{study}", content=to_bytes(dataset), headers=DICOM).status_code == 200
        assert http.get(f"/v2/studies/{study}/metadata", headers=JSON_ACCEPT).status_code == 200
        tags = [{"path": "00101010", "vr": "AS", "level": "Study"}]
        added = http.post("/v2/extendedquerytags", json=tags)
        assert added.status_code == 202, added.text
        operation = http.get(added.json()["href"].removeprefix(server.url))
        assert operation.status_code in (200, 202)
        wait_until(lambda: http.get("/v2/extendedquerytags/00101010").json()["status"] == "ready", what="reindex")
        patched = http.patch("/v2/extendedquerytags/00101010", json={"QueryStatus": "Disabled"})
        assert patched.status_code == 200
        assert http.delete("/v2/extendedquerytags/00101010").status_code == 204
        assert http.delete(f"/v2/studies/{study}").status_code == 204
        assert http.get(f"/v2/studies/{study}/metadata", headers=JSON_ACCEPT).status_code == 404


def raw_request(server: Server, header_line: bytes) -> bytes:
    """The status line of a GET /v2/studies sent with ``header_line`` as its Authorization header, raw."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(
            b"GET /v2/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header_line + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    "value",
    [b"Bearer " + b"a" * 40000, b"Bearer \x80\xff\xfe.\xc3\x28.\xc3", b"Bearer \xe2\x82\xac.eyJ.x", b"Bearer ",
     b"Bearer", b"bearer  ", b"\xff\xfe"],
)  # fmt: skip
def test_oversized_and_binary_authorization_headers_get_401_never_500(server, value):
    assert raw_request(server, b"Authorization: " + value) == b"HTTP/1.1 401 Unauthorized"


def test_control_characters_in_the_authorization_header_are_refused_by_the_http_parser_with_400(server):
    assert raw_request(server, b"Authorization: Bearer \x01\x02.\x7f") == b"HTTP/1.1 400 Bad Request"


def test_a_truncated_token_gets_401(server, provider):
    token = provider.token()
    for cut in (10, len(token) // 2, len(token) - 5):
        assert httpx.get(f"{server.url}/v2/studies", headers=bearer(token[:cut])).status_code == 401


def test_unsigned_hmac_and_foreign_algorithm_tokens_get_401(server, provider):
    claims = provider.claims()
    public_pem = (
        provider.keys["key-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header, payload, _ = provider.token().split(".")
    forged = [
        f"{segment({'alg': 'none', 'kid': 'key-1', 'typ': 'JWT'})}.{segment(claims)}.",
        f"{segment({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        f"{header}.{payload}.",
        hmac_signed(claims, public_pem),
        jwt.encode(claims, new_key(), algorithm="PS256", headers={"kid": "key-1"}),
    ]
    for token in forged:
        response = httpx.get(f"{server.url}/v2/studies", headers=bearer(token))
        assert response.status_code == 401, token


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_rs256_rs384_and_rs512_are_accepted(server, provider, algorithm):
    response = httpx.get(server.url + unused_study_query(), headers=bearer(provider.token(algorithm=algorithm)))
    assert response.status_code == 204


def test_a_reader_storing_into_a_new_partition_gets_403_and_no_partition_is_created(provider, tmp_path):
    env = {
        "DICOM_EMULATOR_AUTH_ENABLED": "true",
        "DICOM_EMULATOR_AUTH_ISSUER": provider.issuer,
        "DICOM_EMULATOR_PARTITIONS_ENABLED": "true",
    }
    partitioned = Server(tmp_path / "data", **env).start()
    try:
        reader, owner = bearer(provider.token(roles=["DicomDataReader"])), bearer(provider.token())
        body = to_bytes(make_dataset(study_uid=generate_uid()))
        with httpx.Client(base_url=partitioned.url, timeout=30) as http:
            refused = http.post("/v2/partitions/newpart/studies", content=body, headers={**DICOM, **reader})
            assert (refused.status_code, refused.text) == (403, "Authorization failed.")
            names = [partition["partitionName"] for partition in http.get("/v2/partitions", headers=reader).json()]
            assert "newpart" not in names
            stored = http.post("/v2/partitions/newpart/studies", content=body, headers={**DICOM, **owner})
            assert stored.status_code == 200
            names = [partition["partitionName"] for partition in http.get("/v2/partitions", headers=reader).json()]
            assert "newpart" in names
    finally:
        partitioned.stop()
