"""End to end, on PostgreSQL: the bulk loader (harness/bulk_index.py) writes exactly the rows that storing the same
copies over STOW-RS writes, the real server answers the same searches on both indexes, and STOW-RS after a
bulk load continues the keys, versions and change feed."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import uuid

import asyncpg
import httpx
import pytest
from pydicom.dataset import Dataset

from azure_dicom_emulator.settings import Settings
from harness.bulk_index import SeedRefused, derived_uid, multiply
from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.skipif(bool(POSTGRES_SKIP_REASON), reason=POSTGRES_SKIP_REASON or "")

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
FACTOR = 3
TAGS = [
    {"path": "Occupation", "vr": "SH", "level": "Study"},
    {"path": "PerformingPhysicianName", "vr": "PN", "level": "Series"},
    {"path": "SeriesNumber", "vr": "IS", "level": "Series"},
    {"path": "AcquisitionDateTime", "vr": "DT", "level": "Instance"},
    {"path": "RecommendedDisplayFrameRateInFloat", "vr": "FL", "level": "Instance"},
]
STUDY_NAME_TAGS = {0x00100010, 0x00080090}  # PatientName, ReferringPhysicianName
LEVEL_OF_TAG = {"Study": "study", "Series": "series", "Instance": "instance"}


def seed_datasets() -> list[list[Dataset]]:
    """3 studies of 2 series of 2 instances, with person names and a value of each extended query tag (two
    occupations in the second study's first instance)."""
    root = f"1.2.826.0.1.3680043.8.498.77.{uuid.uuid4().int % 10**12}"
    studies = []
    for study in range(3):
        instances = []
        for number in range(4):
            series = number // 2
            ds = make_dataset(
                f"{root}.1.{study + 1}",
                f"{root}.2.{study + 1}.{series + 1}",
                f"{root}.3.{study + 1}.{number + 1}",
                PatientID=f"PID-{study}",
                PatientName=f"Doe^Jane{study} Marie",
                ReferringPhysicianName=f"Referrer^Rita{study}",
                StudyDate=f"2024010{study + 1}",
                Occupation=["Baker", "Smith"] if (study, number) == (1, 0) else f"Baker{study}",
                PerformingPhysicianName=f"Performer^Paul{series}",
                SeriesNumber=series + 1,
                AcquisitionDateTime=f"2024010{study + 1}10153{number}",
                RecommendedDisplayFrameRateInFloat=2.5 + number,
                InstanceNumber=number + 1,
            )
            instances.append(ds)
        studies.append(instances)
    return studies


def copy_of(ds: Dataset, number: int) -> Dataset:
    """The copy ``number`` the loader makes of ``ds``: its UIDs derived, every other byte the same."""
    twin = copy.deepcopy(ds)
    twin.StudyInstanceUID = derived_uid(ds.StudyInstanceUID, number)
    twin.SeriesInstanceUID = derived_uid(ds.SeriesInstanceUID, number)
    twin.SOPInstanceUID = derived_uid(ds.SOPInstanceUID, number)
    twin.file_meta.MediaStorageSOPInstanceUID = twin.SOPInstanceUID
    return twin


def store(server: Server, studies: list[list[Dataset]]) -> None:
    """One STOW-RS request per study, in order."""
    for instances in studies:
        response = httpx.post(
            server.url + "/v2/studies", content=multipart([to_bytes(ds) for ds in instances]), headers=STOW, timeout=60
        )
        assert response.status_code in (200, 202), response.text


def add_tags(server: Server) -> None:
    """Adds TAGS and waits until they are ready."""
    added = httpx.post(server.url + "/v2/extendedquerytags", json=TAGS, timeout=30)
    assert added.status_code == 202, added.text
    for _ in range(600):
        response = httpx.get(added.json()["href"], timeout=10)
        if response.status_code != 202:
            break
        asyncio.run(asyncio.sleep(0.1))
    assert response.json()["status"] == "succeeded"


def start(tmp_path, name: str, url: str) -> Server:
    """The real server on database ``url``, with its data under tmp_path/name."""
    (tmp_path / name).mkdir()
    return Server(tmp_path / name / "data", url, DICOM_EMULATOR_OPERATION_POLL_SECONDS="0.1").start()


@pytest.fixture(scope="module")
def two_indexes(tmp_path_factory):
    """The same seed, then multiplied by FACTOR with the loader (A) or with its copies stored over STOW-RS (B).

    Shared by the module's tests; the two that write to the loaded index come last."""
    tmp_path = tmp_path_factory.mktemp("bulk")
    urls = [create_postgres_database(), create_postgres_database()]
    servers: list[Server] = []
    try:
        seed = seed_datasets()
        loaded = start(tmp_path, "loaded", urls[0])
        servers.append(loaded)
        add_tags(loaded)
        store(loaded, seed)
        loaded.stop()
        result = asyncio.run(multiply(Settings(data_dir=loaded.data_dir, database_url=urls[0]), FACTOR))
        assert (result.seed_instances, result.added_instances) == (12, 24)
        loaded.start()
        stored = start(tmp_path, "stored", urls[1])
        servers.append(stored)
        add_tags(stored)
        store(stored, seed)
        for number in range(1, FACTOR):
            store(stored, [[copy_of(ds, number) for ds in instances] for instances in seed])
        yield loaded, stored, seed
    finally:
        for server in servers:
            server.stop()
        for url in urls:
            drop_postgres_database(url)


async def _rows(url: str, query: str) -> list[dict]:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return [dict(row) for row in await conn.fetch(query)]
    finally:
        await conn.close()


def rows(server: Server, query: str) -> list[dict]:
    """The rows ``query`` returns from ``server``'s database."""
    return asyncio.run(_rows(server.database_url, query))


def canonical_index(server: Server) -> dict[str, list]:
    """Every table a store writes, with surrogate keys replaced by UIDs, versions by their rank, and timestamps
    dropped once checked to follow the sequences; rows in key order (so the keys' order is compared too)."""
    studies = {row["study_key"]: row["study_uid"] for row in rows(server, "SELECT * FROM study")}
    series = {row["series_key"]: row["series_uid"] for row in rows(server, "SELECT * FROM series")}
    instances = rows(server, "SELECT * FROM instance ORDER BY instance_key")
    rank = {version: n for n, version in enumerate(sorted(row["version"] for row in instances))}
    owners = {"study": studies, "series": series, "instance": {r["instance_key"]: r["sop_uid"] for r in instances}}
    tags = {row["tag_key"]: row for row in rows(server, "SELECT * FROM extended_query_tag")}
    name_levels = {int(tag["path"], 16): LEVEL_OF_TAG[_level_name(tag["level"])] for tag in tags.values()}
    name_levels.update(dict.fromkeys(STUDY_NAME_TAGS, "study"))
    result: dict[str, list] = {}
    result["study"] = [_without(row, "study_key") for row in rows(server, "SELECT * FROM study ORDER BY study_key")]
    result["series"] = [
        {**_without(row, "series_key", "study_key"), "study": studies[row["study_key"]]}
        for row in rows(server, "SELECT * FROM series ORDER BY series_key")
    ]
    for row in instances:
        version = row["version"]
        assert (
            row["blob_key"]
            == f"{row['partition_key']}/{row['study_uid']}/{row['series_uid']}/{row['sop_uid']}.{version}.dcm"
        )
        assert (server.data_dir / "blobs" / row["blob_key"]).is_file()
    result["instance"] = [
        {
            **_without(row, "instance_key", "study_key", "series_key", "created_at", "blob_key", "size", "frame_index"),
            "version": rank[row["version"]],
            "in_study": studies[row["study_key"]] == row["study_uid"],
            "in_series": series[row["series_key"]] == row["series_uid"],
        }
        for row in instances
    ]
    changes = rows(server, "SELECT * FROM change_feed ORDER BY sequence")
    assert [row["timestamp"] for row in changes] == sorted(row["timestamp"] for row in changes)
    result["change_feed"] = [
        {**_without(row, "sequence", "timestamp"), "version": rank[row["version"]]} for row in changes
    ]
    result["person_name_word"] = sorted(
        (row["tag"], owners[name_levels[row["tag"]]][row["owner_key"]], row["word"])
        for row in rows(server, "SELECT * FROM person_name_word")
    )
    for kind in ("string", "long", "double", "datetime", "person_name"):
        table = f"extended_query_tag_{kind}"
        result[table] = sorted(
            (
                tags[row["tag_key"]]["path"],
                owners[LEVEL_OF_TAG[_level_name(tags[row["tag_key"]]["level"])]][row["owner_key"]],
                rank[row["version"]],
                repr(row["value"]),
                row.get("words"),
            )
            for row in rows(server, f"SELECT * FROM {table}")
        )
    result["extended_query_tag_error"] = sorted(
        (
            tags[row["tag_key"]]["path"],
            row["study_uid"],
            row["series_uid"],
            row["sop_uid"],
            owners["instance"][row["instance_key"]] == row["sop_uid"],
            row["error_message"],
        )
        for row in rows(server, "SELECT * FROM extended_query_tag_error")
    )
    result["extended_query_tag"] = [
        _without(row, "tag_key", "operation_id", "created_at")
        for row in sorted(tags.values(), key=lambda r: r["tag_key"])
    ]
    counters = {row["name"]: row["value"] for row in rows(server, "SELECT * FROM counter")}
    # STOW reserves version numbers in blocks, so the counter only has to be past every version written.
    assert counters.pop("version") >= max(row["version"] for row in instances)
    result["counter"] = sorted(counters.items())
    position = {row["sequence"]: n for n, row in enumerate(changes)}
    events = rows(server, "SELECT * FROM event_outbox ORDER BY sequence")
    assert [row["sequence"] for row in events] == sorted(position)
    result["event_outbox"] = [_event(row["body"], position) for row in events]
    result["partition"] = [row["partition_name"] for row in rows(server, "SELECT * FROM partition")]
    return result


def _event(body: str, position: dict[int, int]) -> dict:
    """An outbox event without its random id and its time, its sequence number as a position in the feed."""
    event = json.loads(body)
    assert event.pop("id") and event.pop("eventTime")
    event["data"]["sequenceNumber"] = position[event["data"]["sequenceNumber"]]
    return event


def _level_name(level: int) -> str:
    return ("Study", "Series", "Instance")[level]


def _without(row: dict, *names: str) -> dict:
    return {name: value for name, value in row.items() if name not in names}


def test_the_bulk_loader_writes_the_rows_that_storing_the_copies_over_stow_writes(two_indexes):
    loaded, stored, seed = two_indexes
    expected = canonical_index(stored)
    assert len(expected["instance"]) == 36
    assert canonical_index(loaded) == expected


def test_each_copy_is_a_hard_link_to_its_seed_file_whose_size_and_frame_index_it_keeps(two_indexes):
    loaded, _, seed = two_indexes
    instances = {row["sop_uid"]: row for row in rows(loaded, "SELECT * FROM instance")}
    blobs = loaded.data_dir / "blobs"
    for ds in (ds for study in seed for ds in study):
        original = instances[ds.SOPInstanceUID]
        for number in range(1, FACTOR):
            twin = instances[derived_uid(ds.SOPInstanceUID, number)]
            assert os.path.samefile(blobs / twin["blob_key"], blobs / original["blob_key"])
            assert (twin["size"], twin["frame_index"]) == (original["size"], original["frame_index"])


QUERIES = [
    "studies",
    "studies?PatientID=PID-1",
    "studies?PatientName=jane1&fuzzymatching=true",
    "studies?AccessionNumber=ACC1&limit=200",
    "studies?ReferringPhysicianName=referrer&fuzzymatching=true",
    "studies?StudyDate=20240101-20240102&includefield=all",
    "studies?Occupation=baker2",
    "series?PerformingPhysicianName=performer&fuzzymatching=true",
    "series?SeriesNumber=2&includefield=all",
    "instances?AcquisitionDateTime=20240103101530-20240103101532",
    "instances?RecommendedDisplayFrameRateInFloat=3.5&limit=200",
    "instances?includefield=all&limit=200",
    "changefeed?includemetadata=false&limit=100",
]


def test_the_real_server_answers_searches_alike_on_a_bulk_loaded_and_a_stow_loaded_index(two_indexes):
    loaded, stored, seed = two_indexes
    study = seed[1][0].StudyInstanceUID
    copies = [f"studies/{derived_uid(study, n)}/series" for n in range(1, FACTOR)]
    copies += [f"studies/{derived_uid(study, FACTOR - 1)}/instances?includefield=all"]
    for path in QUERIES + copies:
        answers = []
        for server in (loaded, stored):
            response = httpx.get(f"{server.url}/v2/{path}", headers={"Accept": DICOM_JSON}, timeout=30)
            assert response.status_code == 200, (path, response.text)
            answers.append(response.text.replace(server.url, "http://emulator"))
        if path.startswith("changefeed"):
            answers = [_without_times(answer) for answer in answers]
        assert answers[0] == answers[1], path
        assert answers[0] not in ("[]", "")


def _without_times(answer: str) -> list:
    return [_without(entry, "timestamp") for entry in json.loads(answer)]


def test_a_copy_retrieves_its_seed_files_bytes(two_indexes):
    loaded, _, seed = two_indexes
    ds = seed[2][3]
    path = f"studies/{derived_uid(ds.StudyInstanceUID, 2)}/series/{derived_uid(ds.SeriesInstanceUID, 2)}"
    path += f"/instances/{derived_uid(ds.SOPInstanceUID, 2)}"
    response = httpx.get(f"{loaded.url}/v2/{path}", headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.content == to_bytes(ds)


def test_stow_after_a_bulk_load_continues_the_keys_versions_and_change_feed(two_indexes):
    loaded, _, seed = two_indexes
    before = rows(loaded, "SELECT max(sequence) AS sequence, max(version) AS version FROM change_feed")[0]
    keys = rows(loaded, "SELECT max(instance_key) AS instance, max(series_key) AS series FROM instance")[0]
    copied_study = derived_uid(seed[0][0].StudyInstanceUID, 2)
    into_copy = make_dataset(copied_study, PatientID="PID-0", PatientName="Doe^Jane0 Marie")
    fresh = make_dataset(PatientID="PID-NEW")
    store(loaded, [[into_copy], [fresh]])
    changes = rows(loaded, f"SELECT * FROM change_feed WHERE sequence > {before['sequence']} ORDER BY sequence")
    assert [(row["sequence"], row["version"], row["sop_uid"]) for row in changes] == [
        (before["sequence"] + 1, before["version"] + 1, into_copy.SOPInstanceUID),
        (before["sequence"] + 2, before["version"] + 2, fresh.SOPInstanceUID),
    ]
    new = rows(loaded, f"SELECT * FROM instance WHERE instance_key > {keys['instance']} ORDER BY instance_key")
    assert [row["sop_uid"] for row in new] == [into_copy.SOPInstanceUID, fresh.SOPInstanceUID]
    assert all(row["series_key"] > keys["series"] for row in new)
    counter = rows(loaded, "SELECT value FROM counter WHERE name = 'version'")[0]["value"]
    assert counter == before["version"] + 2
    found = httpx.get(f"{loaded.url}/v2/studies/{copied_study}/series", headers={"Accept": DICOM_JSON})
    assert len(found.json()) == 3


def test_the_bulk_loader_refuses_an_index_with_deletions(two_indexes):
    loaded, _, seed = two_indexes
    study = derived_uid(seed[0][0].StudyInstanceUID, 1)
    assert httpx.delete(f"{loaded.url}/v2/studies/{study}").status_code == 204
    loaded.stop()
    with pytest.raises(SeedRefused, match="deletions or updates"):
        asyncio.run(multiply(Settings(data_dir=loaded.data_dir, database_url=loaded.database_url), 2))
