"""The change feed over HTTP (spec §7): v1 by sequence, v2 by time window, states, metadata and 400s."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from harness.factories import make_dataset, multipart, to_bytes

from ..support.app import running_app

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


async def store(client, *datasets, method="post", path="/v2/studies"):
    response = await client.request(method, path, content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
    assert response.status_code == 200, response.text
    return response


def instance_path(ds, version="v2"):
    return f"/{version}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def summary(entries):
    return [(entry["sopInstanceUid"], entry["action"], entry["state"]) for entry in entries]


async def latest_sequence(client) -> int:
    response = await client.get("/v1/changefeed/latest", params={"includeMetadata": "false"})
    return 0 if response.status_code == 204 else response.json()["sequence"]


async def feed_after(client, sequence: int, **params) -> list[dict]:
    response = await client.get("/v1/changefeed", params={"offset": sequence, "limit": 100, **params})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


async def test_create_put_replace_delete_and_recreate_give_azures_actions_and_states(client):
    before = await latest_sequence(client)
    first, second = make_dataset(), make_dataset()
    await store(client, first, second)
    await store(client, first, method="put")
    assert (await client.delete(instance_path(first))).status_code == 204
    await store(client, first)
    entries = await feed_after(client, before)
    assert summary(entries) == [
        (first.SOPInstanceUID, "Create", "Replaced"),
        (second.SOPInstanceUID, "Create", "Current"),
        (first.SOPInstanceUID, "Create", "Replaced"),
        (first.SOPInstanceUID, "Delete", "Replaced"),
        (first.SOPInstanceUID, "Create", "Current"),
    ]
    sequences = [entry["sequence"] for entry in entries]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5
    assert {entry["partitionName"] for entry in entries} == {"Microsoft.Default"}
    assert entries[0]["studyInstanceUid"] == first.StudyInstanceUID
    assert entries[0]["seriesInstanceUid"] == first.SeriesInstanceUID
    assert "filePath" not in entries[0]


async def test_deleted_entries_have_no_metadata_and_others_have_the_current_versions(client):
    before = await latest_sequence(client)
    ds = make_dataset(PatientID="OLD")
    await store(client, ds)
    replacement = make_dataset(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, PatientID="NEW")
    await store(client, replacement, method="put")
    entries = await feed_after(client, before)
    assert [entry["metadata"]["00100020"]["Value"] for entry in entries] == [["NEW"], ["NEW"]]
    assert (await client.delete(instance_path(ds))).status_code == 204
    entries = await feed_after(client, before)
    assert [entry["state"] for entry in entries] == ["Deleted", "Deleted", "Deleted"]
    assert all("metadata" not in entry for entry in entries)
    assert all("metadata" not in entry for entry in await feed_after(client, before, includeMetadata="false"))


async def test_v1_offset_is_the_sequence_to_start_after_and_limit_bounds_the_sequence(client):
    before = await latest_sequence(client)
    datasets = [make_dataset() for _ in range(5)]
    await store(client, *datasets)
    response = await client.get("/v1/changefeed", params={"offset": before + 1, "limit": 2})
    assert [entry["sequence"] for entry in response.json()] == [before + 2, before + 3]
    default = await client.get("/v1.0-prerelease/changefeed", params={"offset": before})
    assert len(default.json()) == 5  # the default limit of 10 reaches past the newest entry
    latest = (await client.get("/v1/changefeed/latest")).json()
    assert latest["sequence"] == before + 5 and latest["sopInstanceUid"] == datasets[-1].SOPInstanceUID
    assert "metadata" in latest


async def test_v2_reads_a_time_window_skipping_offset_rows(client):
    start = datetime.now(UTC) - timedelta(milliseconds=1)
    datasets = [make_dataset() for _ in range(3)]
    await store(client, *datasets)
    window = {"startTime": start.isoformat(), "endTime": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
    entries = (await client.get("/v2/changefeed", params=window)).json()
    ours = [entry for entry in entries if entry["sopInstanceUid"] in {ds.SOPInstanceUID for ds in datasets}]
    assert [entry["sopInstanceUid"] for entry in ours] == [ds.SOPInstanceUID for ds in datasets]
    skipped = (await client.get("/v2/changefeed", params={**window, "offset": 1, "limit": 1})).json()
    assert skipped == [entries[1]]
    before = (await client.get("/v2/changefeed", params={"endTime": start.isoformat()})).json()
    assert not {entry["sopInstanceUid"] for entry in before} & {ds.SOPInstanceUID for ds in datasets}
    latest = (await client.get("/v2/changefeed/latest", params={"includeMetadata": "False"})).json()
    assert latest["sequence"] == max(entry["sequence"] for entry in entries) and "metadata" not in latest


async def test_timestamps_never_go_backwards_with_the_sequence(client):
    await asyncio.gather(*(store(client, make_dataset(), make_dataset()) for _ in range(4)))
    newest = await latest_sequence(client)
    entries, after = [], 0
    while after < newest:
        entries += await feed_after(client, after)
        after += 100
    stamps = [datetime.fromisoformat(entry["timestamp"]) for entry in entries]
    assert len(entries) >= 8 and stamps == sorted(stamps)


async def test_query_names_are_case_insensitive(client):
    before = await latest_sequence(client)
    await store(client, make_dataset(), make_dataset())
    response = await client.get("/v1/changefeed", params={"OFFSET": before, "Limit": 1, "INCLUDEMETADATA": "false"})
    assert [entry["sequence"] for entry in response.json()] == [before + 1]
    assert "metadata" not in response.json()[0]


async def test_entries_name_their_partition(partitioned_client):
    ds = make_dataset()
    await store(partitioned_client, ds, path="/v2/partitions/north/studies")
    latest = (await partitioned_client.get("/v2/changefeed/latest")).json()
    assert (latest["partitionName"], latest["sopInstanceUid"]) == ("north", ds.SOPInstanceUID)
    assert (await partitioned_client.get("/v2/partitions/north/changefeed")).status_code == 404


async def test_an_empty_feed_has_no_latest_entry(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        for version in ("v1", "v2"):
            response = await client.get(f"/{version}/changefeed/latest")
            assert (response.status_code, response.content) == (204, b"")
            assert (await client.get(f"/{version}/changefeed")).json() == []


async def test_lowercase_actions_and_states_when_configured(tmp_path):
    async with running_app(data_dir=tmp_path, change_feed_enum_case="lower") as client:
        ds = make_dataset()
        await store(client, ds)
        assert (await client.delete(instance_path(ds))).status_code == 204
        entries = (await client.get("/v2/changefeed")).json()
    assert [(entry["action"], entry["state"]) for entry in entries] == [("create", "deleted"), ("delete", "deleted")]


BAD_V1 = [
    ("limit=0", "The query parameter 'limit' is invalid. The field limit must be between 1 and 100."),
    ("limit=-1", "The query parameter 'limit' is invalid. The field limit must be between 1 and 100."),
    ("limit=101", "The query parameter 'limit' is invalid. The field limit must be between 1 and 100."),
    ("limit=blah", "The query parameter 'limit' is invalid. The value 'blah' is not valid for limit."),
    ("offset=-1", "The query parameter 'offset' is invalid. The field offset must be between 0 and 2147483647."),
    (
        "offset=92233720368547758070",
        "The query parameter 'offset' is invalid. The value '92233720368547758070' is not valid for offset.",
    ),
    ("offset=blah", "The query parameter 'offset' is invalid. The value 'blah' is not valid for offset."),
]
BAD_V2 = [
    ("limit=0", "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
    ("limit=-1", "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
    ("limit=201", "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
    ("limit=blah", "The query parameter 'Limit' is invalid. The value 'blah' is not valid for Limit."),
    (
        "offset=-1",
        "The query parameter 'Offset' is invalid. The field Offset must be between 0 and 9223372036854775807.",
    ),
    (
        "offset=92233720368547758070",
        "The query parameter 'Offset' is invalid. The value '92233720368547758070' is not valid for Offset.",
    ),
    ("offset=blah", "The query parameter 'Offset' is invalid. The value 'blah' is not valid for Offset."),
    ("startTime=foo", "The query parameter 'StartTime' is invalid. The value 'foo' is not valid for StartTime."),
    (
        "startTime=2024-01-01T00:00:00",
        "The query parameter 'StartTime' is invalid. Date and time value must specify a time zone.",
    ),
    (
        "endTime=2024-01-01T10:00:00",
        "The query parameter 'EndTime' is invalid. Date and time value must specify a time zone.",
    ),
    (
        "startTime=2024-01-02T00:00:00Z&endTime=2024-01-01T00:00:00Z",
        "The start time '01/02/2024 00:00:00 +00:00' must occur strictly before the end time "
        "'01/01/2024 00:00:00 +00:00'.",
    ),
    (
        "startTime=2024-01-01T01:00:00%2B01:00&endTime=2024-01-01T00:00:00Z",
        "The start time '01/01/2024 00:00:00 +00:00' must occur strictly before the end time "
        "'01/01/2024 00:00:00 +00:00'.",
    ),
]
BAD_METADATA = ["0", "true-ish", "boolean", "asdf"]


@pytest.mark.parametrize(("query", "message"), BAD_V1)
async def test_invalid_v1_parameters_get_azures_400(client, query, message):
    for version in ("v1", "v1.0-prerelease"):
        response = await client.get(f"/{version}/changefeed?{query}")
        assert (response.status_code, response.text) == (400, message)


@pytest.mark.parametrize(("query", "message"), BAD_V2)
async def test_invalid_v2_parameters_get_azures_400(client, query, message):
    response = await client.get(f"/v2/changefeed?{query}")
    assert (response.status_code, response.text) == (400, message)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("value", BAD_METADATA)
@pytest.mark.parametrize("path", ["/v1/changefeed", "/v2/changefeed", "/v1/changefeed/latest", "/v2/changefeed/latest"])
async def test_include_metadata_must_be_a_boolean(client, path, value):
    response = await client.get(path, params={"includeMetadata": value})
    assert response.status_code == 400
    assert response.text == (
        f"The query parameter 'includeMetadata' is invalid. The value '{value}' is not valid for includeMetadata."
    )


async def test_an_unsupported_version_is_refused(client):
    assert (await client.get("/v3/changefeed")).status_code == 400
    assert (await client.get("/vx/changefeed/latest")).status_code == 404
