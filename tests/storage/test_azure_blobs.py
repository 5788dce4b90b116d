"""The Azure Blob adapter of the blob-store port, against Azurite's blob service."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION
from azure_dicom_emulator.storage.azure_blobs import UPLOADS_AT_ONCE, AzureBlobStore, container_client
from azure_dicom_emulator.storage.blob_store import BlobNotFound, BlobStoreUnavailable
from harness.loopback import free_port

KEY = "1/1.2/1.3/1.4.1.dcm"


def adapter(url: str, staging, connection_string: str | None = None) -> AzureBlobStore:
    client = container_client(
        url, connection_string, "unused", api_version=DEFAULT_BLOB_API_VERSION, asynchronous=True, timeout_seconds=5
    )
    return AzureBlobStore(client, staging)


@pytest.fixture
async def store(azurite_blob, tmp_path):
    blobs = adapter(f"{azurite_blob.endpoint}/unit-{uuid.uuid4().hex[:12]}", tmp_path / "staging")
    await blobs.prepare()
    yield blobs
    await blobs.close()


def staged(store: AzureBlobStore, data: bytes):
    path = store.new_staging_path()
    path.write_bytes(data)
    return path


async def test_a_published_blob_reads_whole_by_ranges_in_chunks_and_as_a_local_copy(store):
    data = bytes(range(256)) * 100
    await store.publish([(staged(store, data), KEY)])
    assert await store.read(KEY, len(data)) == data
    assert await store.read_ranges(KEY, [(10, 5), (25_000, 600)]) == [data[10:15], data[25_000:25_600]]
    assert b"".join([chunk async for chunk in store.chunks(KEY)]) == data
    assert await store.size(KEY) == len(data)
    async with store.local_copy(KEY) as path:
        assert path.read_bytes() == data
    assert not path.exists()


async def test_publishing_is_all_or_none(store, tmp_path):
    never_staged = tmp_path / "staging" / "gone"
    with pytest.raises(FileNotFoundError):
        await store.publish([(staged(store, b"first"), KEY), (never_staged, "1/1.2/1.3/1.4.2.dcm")])
    assert await store.keys_older_than(-60) == set()


async def test_many_publishes_at_once_keep_to_the_store_s_upload_bound_together(store):
    """Each STOW part publishes on its own: the bound on uploads in flight is the store's, not one call's."""
    real_upload = store.container.upload_blob
    in_flight, most = 0, 0

    async def counted_upload(*args, **kwargs):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await real_upload(*args, **kwargs)
        finally:
            in_flight -= 1

    store.container.upload_blob = counted_upload
    keys = [f"1/1.2/1.3/1.4.{n}.dcm" for n in range(3 * UPLOADS_AT_ONCE)]
    await asyncio.gather(*(store.publish([(staged(store, b"x" * 50_000), key)]) for key in keys))
    assert most == UPLOADS_AT_ONCE
    assert await store.keys_older_than(-60) == set(keys)


async def test_a_missing_key_is_blob_not_found_and_deleting_it_is_nothing(store):
    for read in (store.read(KEY, 1), store.read_ranges(KEY, [(0, 1)]), store.size(KEY)):
        with pytest.raises(BlobNotFound):
            await read
    await store.delete([KEY])


async def test_keys_older_than_a_grace_leave_the_fresh_blobs_out(store):
    await store.publish([(staged(store, b"new"), KEY)])
    assert await store.keys_older_than(3600) == set()
    assert await store.keys_older_than(-60) == {KEY}
    await store.delete([KEY])
    assert await store.keys_older_than(-60) == set()


async def test_a_store_nobody_answers_for_is_unavailable_within_seconds(tmp_path):
    blobs = adapter(f"http://127.0.0.1:{free_port()}/devstoreaccount1/dicom", tmp_path / "staging")
    try:
        with pytest.raises(BlobStoreUnavailable):
            await blobs.check()
        with pytest.raises(BlobStoreUnavailable):
            await blobs.read(KEY, 1)
    finally:
        await blobs.close()
