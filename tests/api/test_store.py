"""STOW-RS in-process: statuses, response datasets, codes, and that bad input leaves nothing behind."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from harness.factories import make_dataset, multipart, to_bytes

DICOM_JSON = "application/dicom+json"
MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'
HEADERS = {"Accept": DICOM_JSON, "Content-Type": MULTIPART}


def referenced(body: dict) -> list[dict]:
    return body.get("00081199", {}).get("Value", [])


def failed(body: dict) -> list[dict]:
    return body.get("00081198", {}).get("Value", [])


async def test_store_single_instance_v2_returns_200_with_retrieve_url(client):
    ds = make_dataset()
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 200
    assert response.headers["content-type"] == DICOM_JSON
    body = response.json()
    (item,) = referenced(body)
    assert item["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert item["00081150"]["Value"] == [ds.SOPClassUID]
    assert item["00081190"]["Value"] == [
        f"http://testserver:8080/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    ]
    assert item["00741048"] == {"vr": "SQ"}  # v2 always carries the (empty) failed attributes
    assert "00081190" not in body  # no study URL without a study in the request URL


async def test_store_v1_omits_failed_attributes_sequence(client):
    response = await client.post("/v1/studies", content=multipart([to_bytes(make_dataset())]), headers=HEADERS)
    assert response.status_code == 200
    assert "00741048" not in referenced(response.json())[0]


async def test_store_to_study_url_adds_study_retrieve_url(client):
    ds = make_dataset()
    response = await client.post(
        f"/v2/studies/{ds.StudyInstanceUID}", content=multipart([to_bytes(ds)]), headers=HEADERS
    )
    assert response.status_code == 200
    assert response.json()["00081190"]["Value"] == [f"http://testserver:8080/v2/studies/{ds.StudyInstanceUID}"]


async def test_single_part_application_dicom(client):
    ds = make_dataset()
    response = await client.post(
        "/v2/studies",
        content=to_bytes(ds),
        headers={"Accept": DICOM_JSON, "Content-Type": "application/dicom"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/related; type=application/dicom; boundary=test-boundary",
        'multipart/related; boundary="test-boundary"; type="application/dicom"',
    ],
)
async def test_multipart_type_quoted_or_not(client, content_type):
    response = await client.post(
        "/v2/studies",
        content=multipart([to_bytes(make_dataset())]),
        headers={"Accept": DICOM_JSON, "Content-Type": content_type},
    )
    assert response.status_code == 200


async def test_first_part_without_headers_inherits_type(client):
    body = multipart([to_bytes(make_dataset())], content_type=None)
    response = await client.post("/v2/studies", content=body, headers=HEADERS)
    assert response.status_code == 200


async def test_second_part_without_content_type_fails_whole_request(client):
    first, second = make_dataset(), make_dataset()
    body = (
        b"--test-boundary\r\nContent-Type: application/dicom\r\n\r\n" + to_bytes(first) + b"\r\n"
        b"--test-boundary\r\n\r\n" + to_bytes(second) + b"\r\n--test-boundary--\r\n"
    )
    response = await client.post("/v2/studies", content=body, headers=HEADERS)
    assert response.status_code == 415
    assert await _instance_count(client, first.StudyInstanceUID) == 0


async def test_chunked_body(client):
    data = multipart([to_bytes(make_dataset()), to_bytes(make_dataset())])

    async def chunks():
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    response = await client.post("/v2/studies", content=chunks(), headers=HEADERS)
    assert response.status_code == 200
    assert len(referenced(response.json())) == 2


async def test_put_replaces_existing_instance_and_post_conflicts(client):
    ds = make_dataset(StudyDescription="first")
    assert (await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)).status_code == 200
    ds.StudyDescription = "second"
    conflict = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert conflict.status_code == 409
    assert failed(conflict.json())[0]["00081197"]["Value"] == [45070]
    metadata = await _metadata(client, ds)
    assert metadata[0]["00081030"]["Value"] == ["first"]  # untouched by the failed POST
    replaced = await client.put("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert replaced.status_code == 200
    metadata = await _metadata(client, ds)
    assert metadata[0]["00081030"]["Value"] == ["second"]


async def test_same_instance_twice_in_one_request(client):
    ds = make_dataset()
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds), to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 202
    body = response.json()
    assert len(referenced(body)) == 1
    assert failed(body)[0]["00081197"]["Value"] == [45070]


async def test_study_uid_differing_from_url_fails_43264(client):
    ds = make_dataset()
    response = await client.post(f"/v2/studies/{generate_uid()}", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 409
    item = failed(response.json())[0]
    assert item["00081197"]["Value"] == [43264]
    assert item["00081155"]["Value"] == [ds.SOPInstanceUID]
    assert await _instance_count(client, ds.StudyInstanceUID) == 0


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_a_file_without_sop_instance_uid_fails_43264_with_its_failed_attributes(client, version):
    ds = make_dataset()
    del ds.SOPInstanceUID
    del ds.SeriesInstanceUID
    response = await client.post(f"/{version}/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 409
    assert failed(response.json()) == [
        {
            "00081150": {"vr": "UI", "Value": [ds.SOPClassUID]},
            "00081197": {"vr": "US", "Value": [43264]},
            "00741048": {
                "vr": "SQ",
                "Value": [
                    {
                        "00000902": {
                            "vr": "LO",
                            "Value": ["DICOM100: (0020,000e) - The required tag '(0020,000e)' is missing."],
                        }
                    }
                ],
            },
        }
    ]


async def test_mixed_success_and_failure_is_202(client):
    good = make_dataset()
    response = await client.post(
        "/v2/studies", content=multipart([to_bytes(good), b"not dicom at all"]), headers=HEADERS
    )
    assert response.status_code == 202
    body = response.json()
    assert len(referenced(body)) == 1
    assert failed(body) == [{"00081197": {"vr": "US", "Value": [43264]}}]


async def test_implicit_vr_is_stored_with_warning_45063(client):
    ds = make_dataset(transfer_syntax=ImplicitVRLittleEndian)
    response = await client.post("/v1/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 200
    assert referenced(response.json())[0]["00081196"]["Value"] == [45063]
    response_v2 = await client.post(
        "/v2/studies",
        content=multipart([to_bytes(make_dataset(transfer_syntax=ImplicitVRLittleEndian))]),
        headers=HEADERS,
    )
    assert response_v2.status_code == 202


async def test_preamble_is_zeroed_and_the_rest_kept(client):
    ds = make_dataset()
    data = to_bytes(ds, preamble=b"\x01" * 128)
    await client.post("/v2/studies", content=multipart([data]), headers=HEADERS)
    response = await client.get(
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
    )
    assert response.status_code == 200
    assert response.content == bytes(128) + data[128:]


@pytest.mark.parametrize(
    ("content_type", "status", "message"),
    [
        (
            "multipart/form-data; boundary=x",
            415,
            "The specified content type 'multipart/form-data; boundary=x' is not supported.",
        ),
        (
            "application/dicom+json",
            415,
            "The specified content type 'application/dicom+json' is not supported.",
        ),
        ("multipart/related; type=application/dicom", 415, None),
        (
            "multipart/related; boundary=x; start=abc",
            400,
            "The start parameter in multipart/related request is not supported.",
        ),
    ],
)
async def test_request_level_content_type_errors(client, content_type, status, message):
    response = await client.post(
        "/v2/studies", content=b"x", headers={"Accept": DICOM_JSON, "Content-Type": content_type}
    )
    assert response.status_code == status
    if message:
        assert response.text == message
        assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("accept", [None, "application/dicom", "text/html", ""])
async def test_store_requires_dicom_json_accept(client, accept):
    request = client.build_request(
        "POST",
        "/v2/studies",
        content=multipart([to_bytes(make_dataset())]),
        headers={"Content-Type": MULTIPART},
    )
    del request.headers["Accept"]  # httpx sends */* unless told otherwise
    if accept is not None:
        request.headers["Accept"] = accept
    response = await client.send(request)
    assert response.status_code == 406
    assert response.content == b""


@pytest.mark.parametrize(
    "accept", ["*/*", "application/json", "application/*", "application/dicom+json; q=0.5, text/html"]
)
async def test_store_accepts_json_compatible_accept(client, accept):
    response = await client.post(
        "/v2/studies",
        content=multipart([to_bytes(make_dataset())]),
        headers={"Content-Type": MULTIPART, "Accept": accept},
    )
    assert response.status_code == 200


async def test_empty_body_is_409(client):
    response = await client.post(
        "/v2/studies", content=b"", headers={"Accept": DICOM_JSON, "Content-Type": "application/dicom"}
    )
    assert response.status_code == 409
    assert failed(response.json())[0]["00081197"]["Value"] == [43264]


async def test_multipart_with_zero_parts_is_204(client):
    response = await client.post("/v2/studies", content=b"--test-boundary--\r\n", headers=HEADERS)
    assert response.status_code == 204
    assert response.content == b""


@pytest.mark.parametrize(
    "uid",
    ["abc.123", "1" * 65, "1..2%2F..%2F3", "..", "1.2.3a", "%2E%2E", "1.2.", "..%2F..%2Fetc"],
)
async def test_invalid_study_uid_in_url_is_400(client, uid):
    response = await client.post(f"/v2/studies/{uid}", content=multipart([to_bytes(make_dataset())]), headers=HEADERS)
    assert response.status_code in (400, 404)
    assert response.status_code != 500


async def test_payload_over_limit_is_413_and_leaves_nothing(tmp_path):
    from ..support.app import running_app

    async with running_app(data_dir=tmp_path, max_request_bytes=1000) as small:
        ds = make_dataset(rows=64, columns=64)
        response = await small.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
        assert response.status_code == 413
        assert response.text == "The request exceeded the allowed limit of 1000 bytes."

        async def chunks():
            yield multipart([to_bytes(ds)])

        chunked = await small.post("/v2/studies", content=chunks(), headers=HEADERS)
        assert chunked.status_code == 413
        assert await _instance_count(small, ds.StudyInstanceUID) == 0
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


async def _metadata(client, ds) -> list[dict]:
    response = await client.get(f"/v2/studies/{ds.StudyInstanceUID}/metadata", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200
    return response.json()


async def _instance_count(client, study_uid: str) -> int:
    response = await client.get(f"/v2/studies/{study_uid}/metadata", headers={"Accept": DICOM_JSON})
    if response.status_code == 404:
        return 0
    return len(json.loads(response.content))


async def test_multi_valued_indexed_attribute_sets_warning_header(client):
    ds = make_dataset(AccessionNumber=["ACC1", "ACC2"])
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code in (200, 202)
    assert response.headers["warning"] == (
        '299 testserver: "One or more indexed Dicom tag(s) have multiple values, only first value is indexed."'
    )
    plain = await client.post("/v2/studies", content=multipart([to_bytes(make_dataset())]), headers=HEADERS)
    assert "warning" not in plain.headers


async def test_v2_invalid_attribute_is_dropped_from_metadata_with_202(client):
    ds = make_dataset(StudyDate="NotAValidStudyDate")
    response = await client.post("/v2/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
    assert response.status_code == 202
    item = referenced(response.json())[0]
    assert item["00081196"]["Value"] == [1]
    messages = [m["00000902"]["Value"][0] for m in item["00741048"]["Value"]]
    assert any(m.startswith("DICOM100: (0008,0020) - ") for m in messages)
    metadata = await _metadata(client, ds)
    assert "00080020" not in metadata[0]
    v1 = await client.post(
        "/v1/studies", content=multipart([to_bytes(make_dataset(StudyDate="NotAValidStudyDate"))]), headers=HEADERS
    )
    assert v1.status_code == 409
    assert failed(v1.json())[0]["00081197"]["Value"] == [43264]


async def test_cpu_work_in_threads_stores_the_same(tmp_path):
    """With DICOM_EMULATOR_CPU_WORKERS=0 uploads are examined in threads instead of worker processes."""
    from ..support.app import running_app

    async with running_app(data_dir=tmp_path, cpu_workers=0) as threaded:
        ds = make_dataset(transfer_syntax=ImplicitVRLittleEndian)
        response = await threaded.post("/v1/studies", content=multipart([to_bytes(ds)]), headers=HEADERS)
        assert response.status_code == 200
        assert referenced(response.json())[0]["00081196"]["Value"] == [45063]
        transcoded = await threaded.get(
            f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
            headers={"Accept": "application/dicom"},
        )
        assert transcoded.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"


async def test_a_batch_that_races_another_writer_still_stores_its_other_instances(client, monkeypatch):
    """The first commit attempt misses an instance stored meanwhile and hits the unique key; the retry
    refuses that one (45070) and stores the rest from their staged files, still in place."""
    from azure_dicom_emulator.storage import index

    study_uid, series_uid = generate_uid(), generate_uid()
    raced, *others = [make_dataset(study_uid, series_uid) for _ in range(3)]
    first = await client.post("/v2/studies", content=multipart([to_bytes(raced)]), headers=HEADERS)
    assert first.status_code == 200
    real_find = index.find_instances
    calls = []

    async def blind_first_time(conn, partition_key, ids):
        calls.append(len(ids))
        return {} if len(calls) == 1 else await real_find(conn, partition_key, ids)

    monkeypatch.setattr(index, "find_instances", blind_first_time)
    files = [to_bytes(ds) for ds in (raced, *others)]
    response = await client.post("/v2/studies", content=multipart(files), headers=HEADERS)
    monkeypatch.undo()
    assert response.status_code == 202, response.text
    assert [item["00081197"]["Value"] for item in failed(response.json())] == [[45070]]
    assert {item["00081155"]["Value"][0] for item in referenced(response.json())} == {
        ds.SOPInstanceUID for ds in others
    }
    assert len(calls) >= 2
    for ds, data in zip(others, files[1:], strict=True):
        path = f"/v2/studies/{study_uid}/series/{series_uid}/instances/{ds.SOPInstanceUID}"
        stored = await client.get(path, headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert stored.status_code == 200
        assert stored.content[128:] == data[128:]
