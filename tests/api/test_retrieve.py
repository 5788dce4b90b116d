"""WADO-RS in-process: Accept negotiation, framing, transcoding, metadata, ETags, delete."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian, generate_uid

from harness.factories import make_dataset, multipart, to_bytes

DICOM_JSON = "application/dicom+json"
STOW = {
    "Accept": DICOM_JSON,
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


async def store(client, *datasets, version: str = "v2") -> list[bytes]:
    files = [to_bytes(ds) for ds in datasets]
    response = await client.post(f"/{version}/studies", content=multipart(files), headers=STOW)
    assert response.status_code == 200, response.text
    return files


def instance_path(ds) -> str:
    return f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def parse_multipart(response) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part; fails unless the framing is exactly RFC 2046's."""
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/related; boundary=")
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    body = response.content
    assert body.startswith(b"--" + boundary + b"\r\n")
    assert body.endswith(b"\r\n--" + boundary + b"--\r\n")
    inner = body[len(boundary) + 4 : -(len(boundary) + 8)]
    parts = []
    for raw in inner.split(b"\r\n--" + boundary + b"\r\n"):
        head, payload = raw.split(b"\r\n\r\n", 1)
        name, value = head.decode().split(": ", 1)
        assert name.lower() == "content-type"
        parts.append((value, payload))
    return parts


@pytest.mark.parametrize(
    "accept",
    [
        'multipart/related; type="application/dicom"; transfer-syntax=*',
        "multipart/related; type=application/dicom; transfer-syntax=*",
        "*/*",
        'multipart/related; type="application/dicom"; transfer-syntax="*", */*; q=0.1',
    ],
)
async def test_study_retrieve_multipart_is_byte_exact(client, accept):
    study = generate_uid()
    first, second = (
        make_dataset(study_uid=study),
        make_dataset(study_uid=study, transfer_syntax=ImplicitVRLittleEndian),
    )
    files = [to_bytes(first), to_bytes(second)]
    response = await client.post("/v1/studies", content=multipart(files), headers=STOW)
    assert response.status_code == 200
    response = await client.get(f"/v2/studies/{study}", headers={"Accept": accept})
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    parts = parse_multipart(response)
    assert sorted(body for _, body in parts) == sorted(bytes(128) + f[128:] for f in files)
    assert {ct for ct, _ in parts} == {
        "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
        "application/dicom; transfer-syntax=1.2.840.10008.1.2",
    }


async def test_instance_single_part(client):
    ds = make_dataset()
    (data,) = await store(client, ds)
    response = await client.get(instance_path(ds), headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert response.content == bytes(128) + data[128:]


@pytest.mark.parametrize("source", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
async def test_instance_transcoded_to_explicit_little_endian(client, source):
    ds = make_dataset(transfer_syntax=source)
    original = ds.pixel_array.copy()
    await store(client, ds, version="v1")
    response = await client.get(instance_path(ds), headers={"Accept": "application/dicom"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    result = pydicom.dcmread(io.BytesIO(response.content))
    assert result.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(result.pixel_array, original)


async def test_transcoding_many_instances_is_406(client):
    study = generate_uid()
    await store(client, make_dataset(study_uid=study), make_dataset(study_uid=study))
    response = await client.get(
        f"/v2/studies/{study}", headers={"Accept": 'multipart/related; type="application/dicom"'}
    )
    assert response.status_code == 406
    assert "is not supported when multiple instances are matched" in response.text


@pytest.mark.parametrize(
    "accept",
    [None, "application/octet-stream", "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.100"],
)
async def test_unacceptable_instance_accept(client, accept):
    ds = make_dataset()
    await store(client, ds)
    request = client.build_request("GET", instance_path(ds))
    del request.headers["Accept"]  # httpx sends */* unless told otherwise
    if accept is not None:
        request.headers["Accept"] = accept
    response = await client.send(request)
    assert response.status_code == 406


async def test_study_single_part_is_406(client):
    ds = make_dataset()
    await store(client, ds)
    response = await client.get(
        f"/v2/studies/{ds.StudyInstanceUID}", headers={"Accept": "application/dicom; transfer-syntax=*"}
    )
    assert response.status_code == 406


async def test_jpeg2000_target_is_encoded(client):
    ds = make_dataset(rows=32, columns=32)
    await store(client, ds)
    response = await client.get(
        instance_path(ds), headers={"Accept": "application/dicom; transfer-syntax=1.2.840.10008.1.2.4.90"}
    )
    assert response.status_code == 200
    result = pydicom.dcmread(io.BytesIO(response.content))
    assert result.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert np.array_equal(result.pixel_array, ds.pixel_array)


async def test_missing_resources_are_404_with_text(client):
    ds = make_dataset()
    await store(client, ds)
    accept = {"Accept": "*/*"}
    assert (
        await client.get(f"/v2/studies/{generate_uid()}", headers=accept)
    ).text == "The specified study cannot be found."
    missing_series = await client.get(f"/v2/studies/{ds.StudyInstanceUID}/series/{generate_uid()}", headers=accept)
    assert missing_series.text == "The specified series cannot be found."
    missing_instance = await client.get(
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{generate_uid()}",
        headers=accept,
    )
    assert missing_instance.status_code == 404
    assert missing_instance.text == "The specified instance cannot be found."


@pytest.mark.parametrize(
    "path",
    ["/v2/studies/abc", "/v2/studies/1.2/series/1.x", "/v2/studies/1.2/series/1.3/instances/" + "1" * 65],
)
async def test_invalid_uids_are_400(client, path):
    response = await client.get(path, headers={"Accept": "*/*"})
    assert response.status_code == 400
    assert response.text.startswith("DICOM Identifier is invalid.")


async def test_metadata_levels_and_etag(client):
    study, series = generate_uid(), generate_uid()
    first = make_dataset(study_uid=study, series_uid=series)
    await store(client, first)
    response = await client.get(f"/v2/studies/{study}/metadata", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    etag = response.headers["etag"]
    assert etag.endswith("-1")
    assert response.json()[0]["0020000D"] == {"vr": "UI", "Value": [study]}
    assert "7FE00010" not in response.json()[0]
    not_modified = await client.get(
        f"/v2/studies/{study}/metadata", headers={"Accept": DICOM_JSON, "If-None-Match": etag}
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert "etag" not in not_modified.headers
    await store(client, make_dataset(study_uid=study, series_uid=series))
    changed = await client.get(f"/v2/studies/{study}/metadata", headers={"Accept": DICOM_JSON, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert len(changed.json()) == 2
    series_metadata = await client.get(f"/v2/studies/{study}/series/{series}/metadata", headers={"Accept": DICOM_JSON})
    assert len(series_metadata.json()) == 2
    instance = await client.get(instance_path(first) + "/metadata", headers={"Accept": DICOM_JSON})
    assert len(instance.json()) == 1
    assert instance.headers["etag"].isdigit()


@pytest.mark.parametrize("accept", [None, "application/dicom", "application/dicom+json+x"])
async def test_metadata_bad_accept_is_406_even_for_invalid_uids(client, accept):
    request = client.build_request("GET", "/v2/studies/not-a-uid/metadata")
    del request.headers["Accept"]
    if accept is not None:
        request.headers["Accept"] = accept
    response = await client.send(request)
    assert response.status_code == 406


async def test_delete_levels(client):
    study, series = generate_uid(), generate_uid()
    first, second, third = (make_dataset(study_uid=study, series_uid=series) for _ in range(3))
    other_series = make_dataset(study_uid=study)
    await store(client, first, second, third, other_series)
    assert (await client.delete(instance_path(first))).status_code == 204
    assert (await client.delete(instance_path(first))).status_code == 404
    assert (await client.delete(f"/v2/studies/{study}/series/{series}")).status_code == 204
    remaining = await client.get(f"/v2/studies/{study}/metadata", headers={"Accept": DICOM_JSON})
    assert [d["00080018"]["Value"][0] for d in remaining.json()] == [other_series.SOPInstanceUID]
    assert (await client.delete(f"/v2/studies/{study}")).status_code == 204
    assert (await client.delete(f"/v2/studies/{study}")).text == "The specified study cannot be found."
    assert (await client.get(f"/v2/studies/{study}/metadata", headers={"Accept": DICOM_JSON})).status_code == 404
    assert (await client.delete("/v2/studies/notAStudyInstanceUid")).status_code == 400


async def test_deleted_study_can_be_stored_again(client):
    ds = make_dataset()
    await store(client, ds)
    assert (await client.delete(f"/v2/studies/{ds.StudyInstanceUID}")).status_code == 204
    await store(client, ds)
    assert (await client.get(instance_path(ds), headers={"Accept": "*/*"})).status_code == 200


async def test_large_instance_is_streamed_byte_exact(client):
    """Files above the whole-file read size go out in chunks, single part and multipart alike."""
    ds = make_dataset(rows=1500, columns=3000)  # ~9 MB of pixel data
    (data,) = await store(client, ds)
    single = await client.get(instance_path(ds), headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert single.status_code == 200
    assert int(single.headers["content-length"]) == len(data)
    assert single.content == bytes(128) + data[128:]
    multi = await client.get(instance_path(ds), headers={"Accept": "*/*"})
    ((_, body),) = parse_multipart(multi)
    assert body == bytes(128) + data[128:]
