"""Bad STOW input: never a 500, Azure's status and codes, and nothing left behind (no file, row or change)."""

from __future__ import annotations

import time
import zlib

import pytest
import pytest_asyncio
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.storage.schema import change_feed, instance, series, study
from harness.factories import make_dataset, multipart, to_bytes, with_meta_transfer_syntax

from ..support.app import running_app

DICOM_JSON = "application/dicom+json"
BOUNDARY = "test-boundary"
HEADERS = {"Accept": DICOM_JSON, "Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'}


@pytest_asyncio.fixture
async def fresh(tmp_path):
    """A client of an empty app, so that what a request leaves behind can be counted."""
    async with running_app(data_dir=tmp_path) as client:
        yield client


async def leftovers(client) -> dict[str, int]:
    services = client.app.state.services
    counts = {}
    async with services.db.read() as conn:
        for table in (study, series, instance, change_feed):
            counts[table.name] = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    counts["files"] = sum(1 for path in services.blobs.root.rglob("*") if path.is_file())
    return counts


NOTHING = {"study": 0, "series": 0, "instance": 0, "change_feed": 0, "files": 0}


async def post(client, body: bytes, headers=HEADERS, path: str = "/v2/studies"):
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code != 500
    return response


def failure_codes(response) -> list[int]:
    return [item["00081197"]["Value"][0] for item in response.json().get("00081198", {}).get("Value", [])]


async def test_truncated_part_fails_43264(fresh):
    data = to_bytes(make_dataset(rows=32, columns=32))
    response = await post(fresh, multipart([data[:-100]]))
    assert response.status_code == 409
    assert failure_codes(response) == [43264]
    assert await leftovers(fresh) == NOTHING


@pytest.mark.parametrize("payload", [b"hello", b"\x00" * 132, b"\x00" * 128 + b"DICM" + b"\xff" * 50, b"DICM"])
async def test_non_dicom_parts_fail_43264(fresh, payload):
    response = await post(fresh, multipart([payload]))
    assert response.status_code == 409
    assert failure_codes(response) == [43264]
    assert await leftovers(fresh) == NOTHING


async def test_zero_byte_body(fresh):
    response = await post(fresh, b"", headers={"Accept": DICOM_JSON, "Content-Type": "application/dicom"})
    assert response.status_code == 409
    assert failure_codes(response) == [43264]
    multipart_empty = await post(fresh, b"")
    assert multipart_empty.status_code == 400
    assert await leftovers(fresh) == NOTHING


async def test_part_ending_in_crlf_keeps_its_bytes(fresh):
    ds = make_dataset()
    ds.add_new(0x00091000, "LO", "X")  # any element works; the file must end with CR LF bytes
    data = to_bytes(ds)
    ds.PixelData = ds.PixelData[:-2] + b"\r\n"
    data = to_bytes(ds)
    assert data.endswith(b"\r\n")
    response = await post(fresh, multipart([data]))
    assert response.status_code == 200
    got = await fresh.get(
        f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}",
        headers={"Accept": "application/dicom; transfer-syntax=*"},
    )
    assert got.content == bytes(128) + data[128:]


async def test_boundary_string_inside_payload(fresh):
    ds = make_dataset(StudyDescription=f"--{BOUNDARY}")
    data = to_bytes(ds)
    assert f"--{BOUNDARY}".encode() in data
    response = await post(fresh, multipart([data]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary anywhere in this body",
        b"--test-boundary\r\nContent-Type: application/dicom\r\n\r\npartial without a closing delimiter",
        b"--test-boundary\r\nContent-Type: application/dicom",
    ],
)
async def test_malformed_multipart_is_400_and_leaves_nothing(fresh, body):
    response = await post(fresh, body)
    assert response.status_code == 400
    assert await leftovers(fresh) == NOTHING


async def test_malformed_tail_after_good_parts_leaves_nothing(fresh):
    good = to_bytes(make_dataset())
    body = (
        multipart([good])[: -len(f"--{BOUNDARY}--\r\n")]
        + b"--test-boundary\r\nContent-Type: application/dicom\r\n\r\nxx"
    )
    response = await post(fresh, body)
    assert response.status_code == 400
    assert await leftovers(fresh) == NOTHING


async def test_multipart_with_zero_parts_is_204(fresh):
    response = await post(fresh, f"--{BOUNDARY}--\r\n".encode())
    assert response.status_code == 204
    assert await leftovers(fresh) == NOTHING


@pytest.mark.parametrize(
    "bad_uid",
    ["1.2.abc", "1" * 65, "1.2..", "../../etc", "..", "1.2.3/../4", "1.2.3\\4", "1.2.", ""],
)
@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"])
async def test_invalid_uids_in_dataset_fail_43264(fresh, keyword, bad_uid):
    ds = make_dataset(**{keyword: bad_uid})
    response = await post(fresh, multipart([to_bytes(ds)]))
    assert response.status_code == 409
    assert failure_codes(response) == [43264]
    assert await leftovers(fresh) == NOTHING


# A literal ".." segment is resolved by the client before sending; its escaped forms reach the server.
@pytest.mark.parametrize("bad_uid", ["1.2.abc", "1" * 65, "1.2.3%2F..%2F4", "%2E%2E", "%2E%2E%2F%2E%2E", "1.2..."])
@pytest.mark.parametrize("position", ["study", "series", "instance"])
async def test_invalid_uids_in_every_path_position(fresh, bad_uid, position):
    ds = make_dataset()
    await post(fresh, multipart([to_bytes(ds)]))
    uids = {"study": ds.StudyInstanceUID, "series": ds.SeriesInstanceUID, "instance": ds.SOPInstanceUID}
    uids[position] = bad_uid
    path = f"/v2/studies/{uids['study']}/series/{uids['series']}/instances/{uids['instance']}"
    for method, url, headers in [
        ("GET", path, {"Accept": "*/*"}),
        ("GET", path + "/metadata", {"Accept": DICOM_JSON}),
        ("DELETE", path, {}),
    ]:
        response = await fresh.request(method, url, headers=headers)
        assert response.status_code in (400, 404), (method, url, response.status_code)
    if position == "study":
        stored = await post(fresh, multipart([to_bytes(make_dataset())]), path=f"/v2/studies/{bad_uid}")
        assert stored.status_code in (400, 404)
    counts = await leftovers(fresh)
    assert counts["instance"] == 1 and counts["files"] == 1


async def test_same_sop_twice_and_study_mismatch(fresh):
    ds = make_dataset()
    twice = await post(fresh, multipart([to_bytes(ds), to_bytes(ds)]))
    assert twice.status_code == 202
    assert failure_codes(twice) == [45070]
    mismatch = await post(fresh, multipart([to_bytes(make_dataset())]), path=f"/v2/studies/{generate_uid()}")
    assert mismatch.status_code == 409
    assert failure_codes(mismatch) == [43264]
    counts = await leftovers(fresh)
    assert counts["instance"] == 1 and counts["change_feed"] == 1 and counts["files"] == 1


async def test_a_multi_valued_transfer_syntax_fails_its_part_alone_43264(fresh):
    odd = with_meta_transfer_syntax(to_bytes(make_dataset()), b"1.2.840.10008.1.2.1\\1.2.840.10008.1.2")
    good = make_dataset()
    response = await post(fresh, multipart([odd, to_bytes(good)]))
    assert response.status_code == 202
    assert failure_codes(response) == [43264]
    alone = await post(fresh, multipart([odd]))
    assert alone.status_code == 409
    assert failure_codes(alone) == [43264]
    counts = await leftovers(fresh)
    assert counts["instance"] == 1 and counts["files"] == 1


def _meta_end(data: bytes) -> int:
    return 132 + 12 + int.from_bytes(data[140:144], "little")


async def test_a_deflated_data_set_with_letterless_vrs_fails_43264_as_its_undeflated_twin(fresh):
    plain = to_bytes(make_dataset())
    head = plain[: _meta_end(plain)]
    data_set = plain[_meta_end(plain) :] + b"\xe1\x7f\x10\x00\x01\x02\x04\x00abcd"
    squeezer = zlib.compressobj(wbits=-15)
    deflated_head = with_meta_transfer_syntax(head, DeflatedExplicitVRLittleEndian.encode())
    deflated = deflated_head + squeezer.compress(data_set) + squeezer.flush()
    for data in (head + data_set, deflated):
        response = await post(fresh, multipart([data]))
        assert response.status_code == 409
        assert failure_codes(response) == [43264]
    assert await leftovers(fresh) == NOTHING


async def test_a_refused_body_of_many_empty_parts_leaves_no_staged_file_at_once(fresh, monkeypatch):
    """Even when the disk is slow: a write still under way when the request fails must not create its file after."""
    from azure_dicom_emulator.features.store.spool import Spool

    append = Spool._append

    def slow_append(self, chunks):
        time.sleep(0.02)
        append(self, chunks)

    monkeypatch.setattr(Spool, "_append", slow_append)
    body = multipart([b""] * 200, BOUNDARY)[: -len(f"--{BOUNDARY}--\r\n")]  # no closing delimiter: 400
    response = await post(fresh, body)
    assert response.status_code == 400
    assert await leftovers(fresh) == NOTHING
