"""End to end: bulk update on the real server, read back with httpx and dicomweb-client, and across a SIGKILL."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3

import httpx
import numpy as np
import pydicom
from dicomweb_client import DICOMwebClient
from pydicom.filebase import DicomBytesIO
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.events import wait_until
from ..support.updates import ACCEPT, DICOM_JSON, ORIGINAL, instance_path, name_change

STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
ANY = {"Accept": "application/dicom; transfer-syntax=*"}


def rle_multiframe(study_uid: str, series_uid: str) -> pydicom.Dataset:
    """A three-frame RLE Lossless instance (encapsulated pixel data)."""
    ds = make_dataset(study_uid, series_uid, rows=16, columns=16)
    ds.NumberOfFrames = 3
    ds.PixelData = (np.arange(3 * 16 * 16, dtype="<u2") * 331 % 4096).tobytes()
    ds.compress(RLELossless, generate_instance_uid=False)
    return ds


def store(http: httpx.Client, datasets) -> None:
    response = http.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
    assert response.status_code == 200, response.text


def run_update(http: httpx.Client, study_uids: list[str], changes: dict) -> dict:
    response = http.post("/v2/studies/$bulkUpdate", json={"studyInstanceUids": study_uids, "changeDataset": changes})
    assert response.status_code == 202, response.text
    reference = response.json()
    assert reference["href"] == f"{str(http.base_url).rstrip('/')}/v2/operations/{reference['id']}"
    assert "location" not in response.headers
    done: dict = {}

    def ended() -> bool:
        answer = http.get(f"/v2/operations/{reference['id']}")
        done.update(answer.json())
        return answer.status_code == 200

    wait_until(ended, what="the update's end")
    return done


def frames_of(client: DICOMwebClient, ds: pydicom.Dataset) -> list[bytes]:
    """The instance's three frames as stored, read by dicomweb-client."""
    return client.retrieve_instance_frames(
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
        frame_numbers=[1, 2, 3],
        media_types=(("application/octet-stream", "*"),),
    )


def read(content: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(DicomBytesIO(content))


def test_an_updated_study_reads_back_everywhere_with_its_original_kept(tmp_path, database_url):
    out = tmp_path / "events.jsonl"
    sinks = json.dumps([{"type": "file", "path": str(out)}])
    server = Server(tmp_path / "data", database_url, DICOM_EMULATOR_EVENTS=sinks).start()
    study_uid, series_uid = generate_uid(), generate_uid()
    plain = make_dataset(study_uid, series_uid, EthnicGroup="Old")
    encapsulated = rle_multiframe(study_uid, series_uid)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            tag = http.post("/v2/extendedquerytags", json=[{"path": "EthnicGroup", "level": "Study"}])
            assert tag.status_code == 202
            wait_until(lambda: http.get(tag.json()["href"]).status_code == 200, what="the tag's reindex")
            store(http, [plain, encapsulated])
            client = DICOMwebClient(server.url + "/v2")
            frames_before = frames_of(client, encapsulated)
            assert len(frames_before) == 3
            originals = {
                ds.SOPInstanceUID: http.get(instance_path(ds), headers=ANY).content for ds in (plain, encapsulated)
            }
            changes = {**name_change("Updated^Over^Http"), "00102160": {"vr": "SH", "Value": ["New"]}}
            done = run_update(http, [study_uid], changes)
            assert done["status"] == "succeeded"
            assert done["results"] == {"studyProcessed": 1, "studyUpdated": 1, "studyFailed": 0, "instanceUpdated": 2}
            assert frames_of(client, encapsulated) == frames_before
            for ds in (plain, encapsulated):
                new = read(http.get(instance_path(ds), headers=ANY).content)
                old = read(originals[ds.SOPInstanceUID])
                assert str(new.PatientName) == "Updated^Over^Http"
                assert new.file_meta.ImplementationClassUID == "1.3.6.1.4.1.311.129"
                assert new.PixelData == old.PixelData
                assert http.get(instance_path(ds), headers={**ANY, **ORIGINAL}).content == originals[ds.SOPInstanceUID]
            transcoded = http.get(
                instance_path(encapsulated),
                headers={"Accept": f"application/dicom; transfer-syntax={ExplicitVRLittleEndian}"},
            )
            assert transcoded.status_code == 200
            decoded = read(transcoded.content)
            assert str(decoded.PatientName) == "Updated^Over^Http"
            assert np.array_equal(decoded.pixel_array, read(originals[encapsulated.SOPInstanceUID]).pixel_array)
            found = client.search_for_studies(
                search_filters={"PatientName": "Updated^Over^Http", "StudyInstanceUID": study_uid}
            )
            assert [study["0020000D"]["Value"][0] for study in found] == [study_uid]
            assert client.search_for_studies(search_filters={"EthnicGroup": "Old", "StudyInstanceUID": study_uid}) == []
            assert (
                len(client.search_for_studies(search_filters={"EthnicGroup": "New", "StudyInstanceUID": study_uid}))
                == 1
            )
            metadata = client.retrieve_instance_metadata(study_uid, series_uid, plain.SOPInstanceUID)
            assert metadata["00100010"]["Value"] == [{"Alphabetic": "Updated^Over^Http"}]
            feed = http.get("/v1/changefeed", params={"limit": 100, "includeMetadata": "false"}).json()
            mine = [(e["action"], e["state"]) for e in feed if e["sopInstanceUid"] == plain.SOPInstanceUID]
            assert mine == [("Create", "Replaced"), ("Update", "Current")]
            update_sequences = {e["sequence"] for e in feed if e["action"] == "Update"}

            def inspected() -> list[dict]:
                events = http.get("/emulator/events").json()
                return [e for e in events if e["eventType"] == "Microsoft.HealthcareApis.DicomImageUpdated"]

            wait_until(lambda: len(inspected()) == 2, what="the update events at the inspector")
            assert {event["data"]["sequenceNumber"] for event in inspected()} == update_sequences

            def written() -> list[dict]:
                lines = out.read_text().splitlines() if out.exists() else []
                return [e for e in map(json.loads, lines) if e["eventType"].endswith("DicomImageUpdated")]

            wait_until(lambda: len(written()) == 2, what="the update events in the file")
            assert {event["data"]["sequenceNumber"] for event in written()} == update_sequences
            assert http.delete(f"/v2/studies/{study_uid}").status_code == 204
            for headers in (ANY, {**ANY, **ORIGINAL}):
                assert http.get(instance_path(plain), headers=headers).status_code == 404
            assert http.get(instance_path(plain) + "/metadata", headers={**ACCEPT, **ORIGINAL}).status_code == 404
    finally:
        server.stop()


def updated_instances_per_study(server: Server) -> dict[str, tuple[int, int]]:
    """(instances, instances with an original version) of each study, read from the stopped server's index."""
    statement = "SELECT study_uid, COUNT(*), COUNT(original_version) FROM instance GROUP BY study_uid"
    if server.database_url is None:
        with sqlite3.connect(server.data_dir / "index.db") as conn:
            return {uid: (total, updated) for uid, total, updated in conn.execute(statement)}

    async def read_postgres() -> dict[str, tuple[int, int]]:
        import asyncpg

        conn = await asyncpg.connect(server.database_url.replace("+asyncpg", ""))
        try:
            return {row[0]: (row[1], row[2]) for row in await conn.fetch(statement)}
        finally:
            await conn.close()

    return asyncio.run(read_postgres())


def test_a_server_killed_mid_update_finishes_it_after_restart_each_study_whole(tmp_path, database_url):
    server = Server(tmp_path / "data", database_url, DICOM_EMULATOR_OPERATION_LEASE_SECONDS="1").start()
    groups = []
    for _ in range(40):
        study_uid, series_uid = generate_uid(), generate_uid()
        groups.append([make_dataset(study_uid, series_uid, rows=128, columns=128) for _ in range(3)])
    study_uids = [group[0].StudyInstanceUID for group in groups]
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for start in range(0, len(groups), 10):
                store(http, [ds for group in groups[start : start + 10] for ds in group])
            body = {"studyInstanceUids": study_uids, "changeDataset": name_change("After^Kill")}
            reference = http.post("/v2/studies/$bulkUpdate", json=body).json()
            path = f"/v2/operations/{reference['id']}"

            def some_study_committed() -> bool:
                return http.get(path).json().get("results", {}).get("studyProcessed", 0) >= 1

            wait_until(some_study_committed, what="the first study's commit")
        server.stop(signal.SIGKILL)
        counts = updated_instances_per_study(server)
        assert {counts[uid][0] for uid in study_uids} == {3}
        assert {counts[uid][1] for uid in study_uids} <= {0, 3}  # every study wholly updated or untouched
        done_before_kill = sum(1 for uid in study_uids if counts[uid][1] == 3)
        assert 1 <= done_before_kill < len(study_uids)
        server.start()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            wait_until(lambda: http.get(path).status_code == 200, what="the update's end after the restart")
            done = http.get(path).json()
            assert done["status"] == "succeeded"
            assert done["percentComplete"] == 100
            assert done["results"] == {
                "studyProcessed": 40,
                "studyUpdated": 40,
                "studyFailed": 0,
                "instanceUpdated": 120,
            }
            for group in (groups[0], groups[-1]):
                for ds in group:
                    assert str(read(http.get(instance_path(ds), headers=ANY).content).PatientName) == "After^Kill"
            feed = http.get("/v1/changefeed", params={"limit": 100, "includeMetadata": "false", "offset": 120}).json()
            feed += http.get("/v1/changefeed", params={"limit": 100, "includeMetadata": "false", "offset": 220}).json()
            updates = sorted(entry["sopInstanceUid"] for entry in feed if entry["action"] == "Update")
            assert updates == sorted(ds.SOPInstanceUID for group in groups for ds in group)  # each once
    finally:
        server.stop()
