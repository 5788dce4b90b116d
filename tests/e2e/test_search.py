"""End to end: searching the real server with dicomweb-client and OHIF's request; SQLite and PostgreSQL agree;
a reindex interrupted by a server restart finishes after it."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
import uuid

import asyncpg
import httpx
import pytest
from dicomweb_client import DICOMwebClient
from pydicom.uid import generate_uid

from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}


def store(base_url: str, datasets) -> None:
    response = httpx.post(
        base_url + "/v2/studies", content=multipart([to_bytes(d) for d in datasets]), headers=STOW, timeout=60
    )
    assert response.status_code == 200, response.text


def test_dicomweb_client_searches_every_level_and_pages_with_get_remaining(server):
    patient = f"DWC{uuid.uuid4().hex[:10]}"
    studies = []
    for number in range(7):
        study_uid, series_uid = generate_uid(), generate_uid()
        studies.append(study_uid)
        store(
            server.url,
            [make_dataset(study_uid, series_uid, PatientID=patient, StudyDescription=f"s{number}") for _ in range(2)],
        )
    client = DICOMwebClient(server.url + "/v2")
    found = client.search_for_studies(search_filters={"PatientID": patient}, limit=3, get_remaining=True)
    assert [study["0020000D"]["Value"][0] for study in found] == studies[::-1]
    series = client.search_for_series(search_filters={"PatientID": patient}, limit=2, get_remaining=True)
    assert len(series) == 7
    instances = client.search_for_instances(
        search_filters={"PatientID": patient}, limit=4, get_remaining=True, fields=["StudyDescription"]
    )
    assert len(instances) == 14
    assert len({item["00080018"]["Value"][0] for item in instances}) == 14
    assert {item["00081030"]["Value"][0] for item in instances} == {f"s{n}" for n in range(7)}
    in_study = client.search_for_instances(study_instance_uid=studies[0])
    assert {item["0020000D"]["Value"][0] for item in in_study} == {studies[0]}
    assert client.search_for_studies(search_filters={"PatientID": "nobody-" + patient}) == []
    fuzzy = client.search_for_studies(search_filters={"PatientName": "do"}, fuzzymatching=True, limit=1)
    assert len(fuzzy) == 1


def test_ohif_study_list_request_verbatim(server):
    store(server.url, [make_dataset(StudyDescription="OHIF study", ReferringPhysicianName="Ref^Ohif")])
    response = httpx.get(
        server.url
        + "/v2/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060%2C00080090%2C00100030",
        headers={"Accept": "application/dicom+json"},
    )
    assert response.status_code == 200
    studies = response.json()
    assert 1 <= len(studies) <= 101
    latest = studies[0]
    assert latest["00081030"]["Value"] == ["OHIF study"]
    assert latest["00080090"]["Value"] == [{"Alphabetic": "Ref^Ohif"}]
    assert latest["00080060"]["Value"] == ["CT"]


QUERIES = [
    "studies?PatientID=same-pid",
    "studies?PatientID=SAME-PID&includefield=all",
    "studies?PatientName=Smith^Jó&includefield=NumberOfStudyRelatedInstances,ModalitiesInStudy",
    "studies?PatientName=smi&fuzzymatching=true",
    "studies?PatientName=jo sm&fuzzymatching=true",
    "studies?StudyDate=20200101-20201231",
    "studies?StudyDate=-20200615&limit=1&offset=1",
    "studies?ModalitiesInStudy=MR",
    "series?Modality=mr&includefield=NumberOfSeriesRelatedInstances",
    "instances?PatientID=same-pid&limit=3&offset=2",
    "instances?AccessionNumber=acc-Z",
    "studies?StudyDescription=%25",
    "studies?PatientID=%27%20OR%201%3D1--",
    "studies?limit=0",
    "studies?StudyDate=2020",
]


def _same_data() -> list:
    study_uids = [f"1.2.826.0.1.3680043.10.543.{n}" for n in range(1, 5)]
    datasets = []
    for number, study_uid in enumerate(study_uids):
        for index in range(3):
            datasets.append(
                make_dataset(
                    study_uid,
                    f"{study_uid}.{index % 2}",
                    f"{study_uid}.{index % 2}.{index}",
                    PatientID="same-pid" if number < 3 else "other",
                    PatientName="Smith^Jóhn" if number % 2 else "Smith^Jo",
                    StudyDate=f"2020{number + 3:02d}15",
                    Modality="MR" if index == 2 else "CT",
                    AccessionNumber=f"ACC-{'Z' if number == 1 else number}",
                    SpecificCharacterSet="ISO_IR 192",
                )
            )
    return datasets


@pytest.mark.skipif(POSTGRES_SKIP_REASON is not None, reason=str(POSTGRES_SKIP_REASON))
def test_sqlite_and_postgresql_give_the_same_answers(tmp_path):
    url = create_postgres_database()
    for name in ("sqlite", "pg"):
        (tmp_path / name).mkdir()
    servers = [Server(tmp_path / "sqlite" / "data").start(), Server(tmp_path / "pg" / "data", url).start()]
    try:
        answers = []
        for running in servers:
            store(running.url, _same_data())
            replies = []
            for query in QUERIES:
                response = httpx.get(f"{running.url}/v2/{query}", headers={"Accept": DICOM_JSON})
                replies.append((query, response.status_code, response.text))
            answers.append(replies)
        assert answers[0] == answers[1]
        statuses = [status for _, status, _ in answers[0]]
        assert statuses.count(200) >= 9 and statuses[-2:] == [400, 400]
    finally:
        for running in servers:
            running.stop()
        drop_postgres_database(url)


def _operation_row(server: Server, operation_id: str) -> tuple[str, int]:
    """The operation's status and percent complete as the database holds them."""
    query = "SELECT status, percent_complete FROM operation WHERE operation_id = "
    if server.database_url is None:
        with sqlite3.connect(server.data_dir / "index.db") as connection:
            return tuple(connection.execute(query + "?", (operation_id,)).fetchone())

    async def fetch():
        connection = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
        try:
            return tuple(await connection.fetchrow(query + "$1", operation_id))
        finally:
            await connection.close()

    return asyncio.run(fetch())


def _freeze_once_the_operation_progresses(server: Server, operation_id: str) -> None:
    """Lets the server run in slices of a few milliseconds until the operation has checkpointed some progress,
    and leaves the server frozen (SIGSTOP) there, wherever it was in its work."""
    pid = server.process.pid
    deadline = time.monotonic() + 60
    os.kill(pid, signal.SIGSTOP)
    while _operation_row(server, operation_id)[1] == 0:
        assert time.monotonic() < deadline, "the reindex made no progress"
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
        os.kill(pid, signal.SIGSTOP)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_reindex_interrupted_by_a_restart_finishes_after_it(tmp_path, database):
    url = None
    if database == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    env = {
        "DICOM_EMULATOR_REINDEX_BATCH_SIZE": "1",
        "DICOM_EMULATOR_OPERATION_LEASE_SECONDS": "1",
        "DICOM_EMULATOR_OPERATION_POLL_SECONDS": "0.2",
    }
    first = Server(tmp_path / "data", url, **env).start()
    try:
        for start in range(0, 200, 50):
            store(first.url, [make_dataset(Occupation=f"Job{n}") for n in range(start, start + 50)])
        response = httpx.post(first.url + "/v2/extendedquerytags", json=[{"path": "Occupation", "level": "Study"}])
        assert response.status_code == 202
        operation_url, operation_id = response.json()["href"], response.json()["id"]
        _freeze_once_the_operation_progresses(first, operation_id)
        status, percent = _operation_row(first, operation_id)
        first.stop(signal.SIGKILL)  # dies frozen, wherever the reindex was
    finally:
        first.stop()
    assert status == "running" and 0 < percent < 100
    second = Server(tmp_path / "data", url, **env)
    second.port = first.port
    second.start()
    try:
        unfinished = httpx.get(operation_url, timeout=10)
        assert unfinished.status_code in (200, 202)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = httpx.get(operation_url, timeout=10)
            if response.status_code == 200:
                break
            time.sleep(0.2)
        assert response.status_code == 200 and response.json()["status"] == "succeeded"
        for n in (0, 99, 199):
            found = httpx.get(f"{second.url}/v2/studies?Occupation=job{n}", headers={"Accept": DICOM_JSON})
            assert found.status_code == 200
    finally:
        second.stop()
        if url:
            drop_postgres_database(url)
