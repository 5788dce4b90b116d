"""The crash-safe store protocol (DESIGN §4): the start-up sweep of orphan files, and undoing a failed commit."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from pydicom.uid import generate_uid
from sqlalchemy import func, select

from azure_dicom_emulator.settings import Settings
from azure_dicom_emulator.storage import index
from azure_dicom_emulator.storage.blob_store import instance_key
from azure_dicom_emulator.storage.blobs import FileBlobStore
from azure_dicom_emulator.storage.schema import change_feed, instance, series, study
from harness.factories import in_two_halves, make_dataset, multipart, to_bytes

from ..support.app import running_app

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}
ORIGINAL = {"Accept": "application/dicom; transfer-syntax=*"}
GRACE_SECONDS = Settings.model_fields["orphan_grace_seconds"].default
LONG_AGO = GRACE_SECONDS + 3600


def age(path: Path, seconds: float) -> None:
    """Makes ``path`` look last written ``seconds`` ago."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def orphan(data_dir: Path, version: int = 7, study_uid: str | None = None, seconds_old: float = LONG_AGO) -> Path:
    """A published-looking instance file (in the default partition) that no instance row names."""
    study_uid = study_uid or generate_uid()
    path = data_dir / "blobs" / instance_key(1, study_uid, generate_uid(), generate_uid(), version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_bytes(make_dataset(study_uid=study_uid)))
    age(path, seconds_old)
    return path


def instance_path(ds) -> str:
    return f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def blob_files(data_dir: Path) -> list[Path]:
    return sorted(path for path in (data_dir / "blobs").rglob("*") if path.is_file())


async def row_counts(client) -> dict[str, int]:
    async with client.app.state.services.db.read() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for table in (study, series, instance, change_feed)
        }


NO_ROWS = {"study": 0, "series": 0, "instance": 0, "change_feed": 0}


async def test_old_orphan_is_removed_at_start_up_with_its_empty_folders(tmp_path):
    path = orphan(tmp_path)
    async with running_app(data_dir=tmp_path):
        assert not path.exists()
        assert not (tmp_path / "blobs" / "1").exists()  # the study/series/sop folders it leaves empty go too
        assert (tmp_path / "blobs").is_dir()


async def test_young_orphan_is_kept(tmp_path):
    """A file younger than the grace period may belong to a request still committing."""
    fresh = orphan(tmp_path, seconds_old=0)
    nearly_stale = orphan(tmp_path, seconds_old=GRACE_SECONDS - 30)
    stale = orphan(tmp_path, seconds_old=GRACE_SECONDS + 30)
    async with running_app(data_dir=tmp_path):
        assert fresh.exists()
        assert nearly_stale.exists()
        assert not stale.exists()


async def test_stored_instances_survive_a_restart_and_stay_retrievable(tmp_path):
    stored = make_dataset()
    async with running_app(data_dir=tmp_path) as client:
        response = await client.post("/v2/studies", content=multipart([to_bytes(stored)]), headers=STOW)
        assert response.status_code == 200, response.text
    (stored_file,) = blob_files(tmp_path)
    age(stored_file, LONG_AGO)  # old enough that only its row protects it
    # Another version of the same instance, with no row: what a crash during a PUT leaves.
    keys = (1, stored.StudyInstanceUID, stored.SeriesInstanceUID, stored.SOPInstanceUID, 999999)
    sibling_orphan = tmp_path / "blobs" / instance_key(*keys)
    sibling_orphan.parent.mkdir(parents=True, exist_ok=True)
    sibling_orphan.write_bytes(b"left by a crash")
    age(sibling_orphan, LONG_AGO)

    async with running_app(data_dir=tmp_path) as client:
        assert stored_file.exists()
        assert not sibling_orphan.exists()
        response = await client.get(instance_path(stored), headers=ORIGINAL)
        assert response.status_code == 200
        assert response.content == to_bytes(stored)
        metadata = await client.get(f"{instance_path(stored)}/metadata", headers={"Accept": DICOM_JSON})
        assert metadata.status_code == 200
        assert metadata.json()[0]["00080018"]["Value"] == [stored.SOPInstanceUID]


async def test_sweep_checks_every_candidate_when_there_are_many(tmp_path):
    """More stored files and orphans than one database lookup takes: every orphan goes, every stored file stays.

    With 600 stored files among 1200 candidates, at least 100 stored files fall outside any first 500.
    """
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = [make_dataset(study_uid=study_uid, series_uid=series_uid, rows=1, columns=1) for _ in range(600)]
    async with running_app(data_dir=tmp_path) as client:
        response = await client.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
        assert response.status_code == 200, response.text
    stored_files = blob_files(tmp_path)
    assert len(stored_files) == 600
    for path in stored_files:
        age(path, LONG_AGO)
    for _ in range(600):
        orphan(tmp_path, study_uid=study_uid)

    async with running_app(data_dir=tmp_path) as client:
        assert blob_files(tmp_path) == stored_files
        assert (await client.get(instance_path(datasets[-1]), headers=ORIGINAL)).status_code == 200


async def test_stale_staged_uploads_are_removed_and_recent_ones_kept(tmp_path):
    staging = tmp_path / "blobs" / ".staging"
    staging.mkdir(parents=True)
    stale = staging / "abandoned"
    stale.write_bytes(b"half an upload")
    age(stale, LONG_AGO)
    recent = staging / "in-flight"
    recent.write_bytes(b"an upload still arriving")
    async with running_app(data_dir=tmp_path):
        assert not stale.exists()
        assert recent.exists()
        assert staging.is_dir()


async def test_failed_commit_removes_the_files_it_published(tmp_path, monkeypatch):
    async def failing_insert(conn, rows):
        raise RuntimeError("the database went away")

    first, second = make_dataset(), make_dataset()
    async with running_app(data_dir=tmp_path) as client:
        monkeypatch.setattr(index, "insert_instances", failing_insert)
        body = multipart([to_bytes(first), to_bytes(second)])
        response = await client.post("/v2/studies", content=body, headers=STOW)
        assert response.status_code == 409, response.text
        failures = response.json()["00081198"]["Value"]
        assert [item["00081197"]["Value"] for item in failures] == [[272], [272]]
        assert [item["00081155"]["Value"] for item in failures] == [[first.SOPInstanceUID], [second.SOPInstanceUID]]
        assert "00081199" not in response.json()
        assert blob_files(tmp_path) == []
        assert not (tmp_path / "blobs" / "1").exists()
        assert await row_counts(client) == NO_ROWS
        assert (await client.get(instance_path(first), headers=ORIGINAL)).status_code == 404

        monkeypatch.undo()  # nothing the failure left behind stands in the way of storing again
        response = await client.post("/v2/studies", content=body, headers=STOW)
        assert response.status_code == 200, response.text
        assert len(blob_files(tmp_path)) == 2


async def test_a_file_that_cannot_be_moved_fails_its_instance_with_272_and_leaves_nothing_of_it(tmp_path, monkeypatch):
    """When moving one file to its key fails, that instance is refused with 272; the others are stored."""
    moved = []

    def move_twice_then_fail(self, staged, key):
        if len(moved) == 2:
            raise OSError("no space left on device")
        original_move(self, staged, key)
        moved.append(key)

    original_move = FileBlobStore._move
    datasets = [make_dataset(), make_dataset(), make_dataset()]
    async with running_app(data_dir=tmp_path) as client:
        monkeypatch.setattr(FileBlobStore, "_move", move_twice_then_fail)
        response = await client.post("/v2/studies", content=multipart([to_bytes(ds) for ds in datasets]), headers=STOW)
        assert response.status_code == 202, response.text
        refused = response.json()["00081198"]["Value"]
        assert [item["00081197"]["Value"] for item in refused] == [[272]]
        stored = {item["00081155"]["Value"][0] for item in response.json()["00081199"]["Value"]}
        assert len(stored) == 2 and refused[0]["00081155"]["Value"][0] not in stored
        assert sorted(path.name for path in blob_files(tmp_path)) == sorted(key.rsplit("/", 1)[1] for key in moved)
        assert (await row_counts(client))["instance"] == 2


async def test_an_instance_s_file_is_published_while_the_rest_of_its_request_is_still_arriving(tmp_path):
    """Each examined instance goes to its key at once, so uploads to a remote store overlap the request."""
    first, second = make_dataset(), make_dataset()
    head, rest = in_two_halves(multipart([to_bytes(first), to_bytes(second)]))
    seen_before_the_rest: list[list[str]] = []

    async def slow_body():
        yield head
        deadline = time.monotonic() + 10
        while not blob_files(tmp_path) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        seen_before_the_rest.append([path.name for path in blob_files(tmp_path)])
        yield rest

    async with running_app(data_dir=tmp_path) as client:
        response = await client.post("/v2/studies", content=slow_body(), headers=STOW)
        assert response.status_code == 200, response.text
        [published] = seen_before_the_rest[0]
        assert published.startswith(first.SOPInstanceUID + ".")
        assert len(blob_files(tmp_path)) == 2


async def test_failed_replace_keeps_the_previous_version(tmp_path, monkeypatch):
    """A PUT whose commit fails removes the new file and leaves the stored one in place."""

    async def failing_insert(conn, rows):
        raise RuntimeError("the database went away")

    original = make_dataset(PatientName="Before^Put")
    replacement = make_dataset(
        study_uid=original.StudyInstanceUID,
        series_uid=original.SeriesInstanceUID,
        sop_uid=original.SOPInstanceUID,
        PatientName="After^Put",
    )
    async with running_app(data_dir=tmp_path) as client:
        response = await client.post("/v2/studies", content=multipart([to_bytes(original)]), headers=STOW)
        assert response.status_code == 200, response.text
        before = blob_files(tmp_path)
        counts = await row_counts(client)

        monkeypatch.setattr(index, "insert_instances", failing_insert)
        response = await client.put("/v2/studies", content=multipart([to_bytes(replacement)]), headers=STOW)
        assert response.status_code == 409, response.text
        assert response.json()["00081198"]["Value"][0]["00081197"]["Value"] == [272]
        assert blob_files(tmp_path) == before
        assert await row_counts(client) == counts
        retrieved = await client.get(instance_path(original), headers=ORIGINAL)
        assert retrieved.content == to_bytes(original)
