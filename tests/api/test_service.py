"""Versions, partitions, health, CORS and global request rules, in-process."""

from __future__ import annotations

import pytest
from pydicom.uid import generate_uid

from harness.factories import make_dataset, multipart, to_bytes

DICOM_JSON = "application/dicom+json"
STOW = {
    "Accept": DICOM_JSON,
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


async def test_health(client):
    response = await client.get("/health/check")
    assert response.status_code == 200
    assert response.json()["overallStatus"] == "Healthy"


@pytest.mark.parametrize("version", ["v1", "v1.0-prerelease", "v2", "v1.0", "v2.0"])
async def test_supported_versions(client, version):
    response = await client.get(f"/{version}/studies/{generate_uid()}/metadata", headers={"Accept": DICOM_JSON})
    assert response.status_code == 404
    assert response.headers["api-supported-versions"] == "1.0-prerelease, 1, 2"


async def test_unknown_version_is_400(client):
    response = await client.get(f"/v3/studies/{generate_uid()}/metadata", headers={"Accept": DICOM_JSON})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "UnsupportedApiVersion"


async def test_unversioned_and_unknown_routes_are_404_with_empty_body(client):
    for path in ("/studies", f"/v2/studies/{generate_uid()}/bulkdata", "/nothing"):
        response = await client.get(path, headers={"Accept": "*/*"})
        assert response.status_code == 404
        assert response.content == b""


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PATCH", "/v2/studies", 405),
        ("POST", "/v2/studies/1.2.3/series", 405),
        ("DELETE", "/v2/studies/1.2.3/series/1.2.4/instances/1.2.5/metadata", 405),
        ("PUT", "/v2/changefeed/latest", 405),
        ("GET", "/v2/studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1/rendered/extra", 404),
        ("GET", "/v2/studies/1.2.3/unknown", 404),
        ("GET", "/health/check/extra", 404),
    ],
)
async def test_known_paths_with_other_methods_are_405_and_unknown_paths_404(client, method, path, status):
    response = await client.request(method, path, headers={"Accept": "*/*"})
    assert response.status_code == status
    assert response.content == b""


async def test_query_string_with_angle_bracket_is_400(client):
    response = await client.get("/v2/studies/1.2/metadata?x=%3Cscript", headers={"Accept": DICOM_JSON})
    assert response.status_code == 400
    assert response.text == "The query string included invalid characters."


async def test_partitions_disabled(client):
    response = await client.get("/v2/partitions")
    assert response.status_code == 400
    assert response.text == "Data partitions feature is disabled."
    ds = make_dataset()
    stored = await client.post("/v2/partitions/p1/studies", content=multipart([to_bytes(ds)]), headers=STOW)
    assert stored.status_code == 400
    assert stored.text == "Data partitions feature is disabled."


async def test_partitions_enabled(partitioned_client):
    client = partitioned_client
    ds = make_dataset()
    missing = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=STOW)
    assert missing.status_code == 400
    assert missing.text == "PartitionName value is missing in the route segment."
    invalid = await client.post("/v2/partitions/bad name!/studies", content=multipart([to_bytes(ds)]), headers=STOW)
    assert invalid.status_code == 400
    assert invalid.text == "The specified PartitionName is invalid."
    unknown = await client.get(
        f"/v2/partitions/nope/studies/{ds.StudyInstanceUID}/metadata", headers={"Accept": DICOM_JSON}
    )
    assert unknown.status_code == 400
    assert unknown.text == "Specified PartitionName does not exist."

    for name in ("alpha", "beta"):
        stored = await client.post(f"/v2/partitions/{name}/studies", content=multipart([to_bytes(ds)]), headers=STOW)
        assert stored.status_code == 200, stored.text  # same UIDs live independently per partition
        url = stored.json()["00081199"]["Value"][0]["00081190"]["Value"][0]
        assert f"/v2/partitions/{name}/studies/{ds.StudyInstanceUID}/" in url

    listed = (await client.get("/v2/partitions")).json()
    names = [p["partitionName"] for p in listed]
    assert names[0] == "Microsoft.Default" and listed[0]["partitionKey"] == 1
    assert {"alpha", "beta"} <= set(names)

    assert (await client.delete(f"/v2/partitions/alpha/studies/{ds.StudyInstanceUID}")).status_code == 204
    still = await client.get(
        f"/v2/partitions/beta/studies/{ds.StudyInstanceUID}/metadata", headers={"Accept": DICOM_JSON}
    )
    assert still.status_code == 200


async def test_cors_preflight_and_error_headers(client):
    preflight = await client.options(
        "/v2/studies",
        headers={"Origin": "http://viewer.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "http://viewer.example")
    error = await client.get("/v2/studies/abc", headers={"Origin": "http://viewer.example", "Accept": "*/*"})
    assert error.status_code == 400
    assert "access-control-allow-origin" in error.headers
