"""The emulator's own tools in-process: reset (``/emulator/data``), fault injection and the request log."""

from __future__ import annotations

import asyncio

import pytest

from harness.factories import in_two_halves, make_dataset, multipart, to_bytes

from ..support.app import running_app

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}
JSON = {"Content-Type": "application/json"}


async def store(client, *datasets, partition: str | None = None):
    prefix = f"/v2/partitions/{partition}" if partition else "/v2"
    body = multipart([to_bytes(ds) for ds in datasets])
    return await client.post(f"{prefix}/studies", content=body, headers=STOW)


def published_files(data_dir) -> list:
    return [path for path in (data_dir / "blobs").rglob("*.dcm")]


async def test_reset_answers_204_and_leaves_no_instance_change_tag_partition_or_event(tmp_path, database_url):
    async with running_app(data_dir=tmp_path, database_url=database_url, partitions_enabled=True) as client:
        assert (await store(client, make_dataset(), partition="Microsoft.Default")).status_code == 200
        assert (await store(client, make_dataset(), partition="other")).status_code == 200
        tag = [{"path": "00100040", "vr": "CS", "level": "Study"}]
        assert (await client.post("/v2/extendedquerytags", json=tag)).status_code == 202
        assert published_files(tmp_path)

        response = await client.delete("/emulator/data")

        assert response.status_code == 204
        assert published_files(tmp_path) == []
        assert (await client.get("/v2/partitions/Microsoft.Default/studies")).status_code == 204
        assert (await client.get("/v2/changefeed")).json() == []
        assert (await client.get("/v2/extendedquerytags")).json() == []
        partitions = (await client.get("/v2/partitions")).json()
        assert [p["partitionName"] for p in partitions] == ["Microsoft.Default"]
        assert (await client.get("/emulator/events")).json() == []


async def test_after_a_reset_the_change_feed_and_the_events_start_again_at_sequence_1(tmp_path, database_url):
    async with running_app(data_dir=tmp_path, database_url=database_url) as client:
        assert (await store(client, make_dataset(), make_dataset(), make_dataset())).status_code == 200
        assert (await client.delete("/emulator/data")).status_code == 204

        dataset = make_dataset()
        assert (await store(client, dataset)).status_code == 200

        feed = (await client.get("/v1/changefeed")).json()
        assert [(entry["sequence"], entry["sopInstanceUid"]) for entry in feed] == [(1, dataset.SOPInstanceUID)]
        latest = (await client.get("/v1/changefeed/latest")).json()
        assert latest["sequence"] == 1
        stored = await client.get(
            f"/v2/studies/{dataset.StudyInstanceUID}/series/{dataset.SeriesInstanceUID}"
            f"/instances/{dataset.SOPInstanceUID}",
            headers={"Accept": "application/dicom; transfer-syntax=*"},
        )
        assert stored.status_code == 200


async def test_a_store_whose_first_file_was_published_before_a_reset_fails_with_272_and_leaves_nothing(tmp_path):
    first, second = make_dataset(), make_dataset()
    head, rest = in_two_halves(multipart([to_bytes(first), to_bytes(second)]))
    async with running_app(data_dir=tmp_path) as client:

        async def body_with_a_reset_inside():
            yield head
            while not published_files(tmp_path):
                await asyncio.sleep(0.02)
            assert (await client.delete("/emulator/data")).status_code == 204
            yield rest

        response = await asyncio.wait_for(
            client.post("/v2/studies", content=body_with_a_reset_inside(), headers=STOW), timeout=30
        )

        assert response.status_code == 409, response.text
        assert [item["00081197"]["Value"] for item in response.json()["00081198"]["Value"]] == [[272], [272]]
        assert published_files(tmp_path) == []
        assert (await client.get("/v2/changefeed")).json() == []
        assert (await store(client, first, second)).status_code == 200  # under keys the reset never saw
        assert len(published_files(tmp_path)) == 2


async def test_a_reset_keeps_the_fault_rules(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        rule = {"method": "GET", "path": "/v2/partitions", "status": 503}
        assert (await client.post("/emulator/faults", json=[rule])).status_code == 201
        assert (await client.delete("/emulator/data")).status_code == 204
        assert len((await client.get("/emulator/faults")).json()) == 1


async def test_a_fault_with_a_count_answers_its_status_that_many_times_then_the_service_answers(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        rule = {"method": "get", "path": "/v2/studies*", "status": 503, "count": 2}
        assert (await client.post("/emulator/faults", json=[rule])).status_code == 201

        statuses = [(await client.get("/v2/studies")).status_code for _ in range(3)]

        assert statuses == [503, 503, 204]
        [listed] = (await client.get("/emulator/faults")).json()
        assert listed["fired"] == 2
        assert listed["method"] == "GET"
        assert listed["count"] == 2


async def test_a_429_fault_carries_retry_after_and_the_throttling_body(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        rules = [{"path": "/v2/studies", "status": 429, "retry_after": 7}, {"path": "/v2/series", "status": 429}]
        assert (await client.post("/emulator/faults", json=rules)).status_code == 201

        throttled = await client.get("/v2/studies")
        default = await client.get("/v2/series")

        assert throttled.status_code == 429
        assert throttled.headers["retry-after"] == "7"
        assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert default.headers["retry-after"] == "1"


async def test_a_fault_matches_only_its_method_and_path(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        rule = {"method": "POST", "path": "/v2/studies", "status": 500}
        assert (await client.post("/emulator/faults", json=[rule])).status_code == 201

        assert (await client.get("/v2/studies")).status_code == 204
        assert (await client.get("/v2/series")).status_code == 204
        assert (await store(client, make_dataset())).status_code == 500


async def test_a_fault_with_probability_0_never_fires_and_one_with_only_a_delay_lets_the_request_through(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        rules = [
            {"path": "/v2/studies", "status": 503, "probability": 0},
            {"path": "/v2/studies", "delay_ms": 20},
        ]
        assert (await client.post("/emulator/faults", json=rules)).status_code == 201

        assert (await client.get("/v2/studies")).status_code == 204
        never, delayed = (await client.get("/emulator/faults")).json()
        assert (never["fired"], delayed["fired"]) == (0, 1)


async def test_an_injected_fault_on_a_store_leaves_no_instance_file_or_change(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        assert (await client.post("/emulator/faults", json=[{"path": "/v2/studies", "status": 503}])).status_code == 201

        assert (await store(client, make_dataset())).status_code == 503

        assert (await client.delete("/emulator/faults")).status_code == 204
        assert (await client.get("/emulator/faults")).json() == []
        assert (await client.get("/v2/studies")).status_code == 204
        assert (await client.get("/v2/changefeed")).json() == []
        assert published_files(tmp_path) == []


async def test_faults_never_touch_the_tools_routes(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        assert (await client.post("/emulator/faults", json=[{"status": 503}])).status_code == 201
        assert (await client.get("/emulator/faults")).status_code == 200
        assert (await client.delete("/emulator/faults")).status_code == 204
        assert (await client.get("/v2/studies")).status_code == 204


async def test_fault_rules_from_the_settings_apply_from_start_up(tmp_path):
    async with running_app(data_dir=tmp_path, faults=[{"path": "/v2/studies", "status": 502}]) as client:
        assert (await client.get("/v2/studies")).status_code == 502


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"status": 503, "colour": "red"}, "[0].colour"),
        ({"status": 600}, "[0].status"),
        ({"status": 99}, "[0].status"),
        ({"status": 503, "probability": 1.5}, "[0].probability"),
        ({"status": 503, "probability": -0.1}, "[0].probability"),
        ({"status": 503, "count": 0}, "[0].count"),
        ({"status": 503, "retry_after": -1}, "[0].retry_after"),
        ({"status": 503, "delay_ms": -5}, "[0].delay_ms"),
        ({"path": "/v2/studies"}, "[0]"),
    ],
)
async def test_a_malformed_fault_rule_gets_400_naming_the_field_and_changes_nothing(tmp_path, rule, field):
    async with running_app(data_dir=tmp_path) as client:
        response = await client.post("/emulator/faults", json=[rule])

        assert response.status_code == 400
        assert field in response.text
        assert (await client.get("/emulator/faults")).json() == []


async def test_fault_rules_that_are_no_json_list_get_400_and_a_wrong_media_type_415(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        assert (await client.post("/emulator/faults", content=b"{nope", headers=JSON)).status_code == 400
        assert (await client.post("/emulator/faults", json={"status": 503})).status_code == 400
        assert (
            await client.post("/emulator/faults", content=b"[]", headers={"Content-Type": "text/plain"})
        ).status_code == 415
        assert (await client.get("/emulator/faults")).json() == []


async def test_the_request_log_lists_the_latest_requests_newest_first_with_their_request_ids(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        first = await client.get("/v2/studies")
        second = await client.get("/v2/studies/1.2.3/metadata", headers={"Accept": "application/dicom+json"})

        entries = (await client.get("/emulator/requests", params={"limit": 2})).json()

        assert [(entry["method"], entry["path"], entry["status"]) for entry in entries] == [
            ("GET", "/v2/studies/1.2.3/metadata", 404),
            ("GET", "/v2/studies", 204),
        ]
        assert [entry["requestId"] for entry in entries] == [
            second.headers["x-ms-request-id"],
            first.headers["x-ms-request-id"],
        ]
        assert all(entry["durationMs"] >= 0 and entry["time"].endswith("Z") for entry in entries)


async def test_the_request_log_keeps_its_capacity_and_a_bad_limit_gets_400(tmp_path):
    async with running_app(data_dir=tmp_path, request_log_capacity=3) as client:
        for _ in range(5):
            await client.get("/v2/studies")
        assert len((await client.get("/emulator/requests")).json()) == 3
        for limit in ("0", "1001", "x"):
            response = await client.get("/emulator/requests", params={"limit": limit})
            assert response.status_code == 400
            assert "limit" in response.text


async def test_the_operations_list_shows_the_newest_first_and_a_bad_limit_gets_400(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        for path, vr in (("00100040", "CS"), ("00101010", "AS")):
            tag = [{"path": path, "vr": vr, "level": "Study"}]
            added = await client.post("/v2/extendedquerytags", json=tag)
            assert added.status_code == 202
            for _ in range(600):  # one reindex at a time: the next tag waits for this one
                if (await client.get(added.json()["href"].split("8080", 1)[1])).status_code == 200:
                    break
                await asyncio.sleep(0.05)

        operations = (await client.get("/emulator/operations")).json()

        assert [operation["type"] for operation in operations] == ["reindex", "reindex"]
        assert operations[0]["resources"][0].endswith("/v2/extendedquerytags/00101010")
        assert (await client.get("/emulator/operations", params={"limit": "0"})).status_code == 400


async def test_a_browser_may_read_the_request_id_of_a_cross_origin_answer(tmp_path):
    async with running_app(data_dir=tmp_path) as client:
        response = await client.get("/v2/studies", headers={"Origin": "http://viewer.example"})

        assert "x-ms-request-id" in response.headers["access-control-expose-headers"].lower()
