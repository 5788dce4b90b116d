"""Reading a whole blob from the page cache without waiting for the disk; a blob that is gone."""

import os

import pytest

from azure_dicom_emulator.storage.blob_store import BlobNotFound
from azure_dicom_emulator.storage.blobs import FileBlobStore, read_if_cached


def test_a_file_in_the_page_cache_is_read_whole(tmp_path):
    path = tmp_path / "blob.dcm"
    data = os.urandom(700_000)
    path.write_bytes(data)
    path.read_bytes()  # now every page is cached
    assert read_if_cached(path) == data


def test_a_file_evicted_from_the_page_cache_is_left_to_an_io_thread(tmp_path):
    path = tmp_path / "blob.dcm"
    path.write_bytes(os.urandom(700_000))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    assert read_if_cached(path) is None


def test_a_missing_file_is_left_to_the_caller(tmp_path):
    assert read_if_cached(tmp_path / "gone.dcm") is None


KEY = "1/1.2/1.3/1.4.1.dcm"


@pytest.mark.parametrize(
    "read",
    [
        lambda store: store.size(KEY),
        lambda store: store.read(KEY, 10),
        lambda store: store.read_ranges(KEY, [(0, 10)]),
        lambda store: anext(store.chunks(KEY)),
        lambda store: store.local_copy(KEY).__aenter__(),
    ],
    ids=["size", "read", "read_ranges", "chunks", "local_copy"],
)
async def test_a_key_without_a_file_raises_blob_not_found(tmp_path, read):
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobNotFound) as raised:
        await read(store)
    assert raised.value.key == KEY


async def test_publishing_is_all_or_none_and_ranges_read_the_published_bytes(tmp_path):
    store = FileBlobStore(tmp_path)
    first, second = store.new_staging_path(), store.new_staging_path()
    first.write_bytes(b"0123456789")
    with pytest.raises(FileNotFoundError):
        await store.publish([(first, "1/a/b/c.1.dcm"), (second, "1/a/b/d.1.dcm")])  # the second was never staged
    assert await store.keys_older_than(-60) == set()
    first.write_bytes(b"0123456789")
    await store.publish([(first, "1/a/b/c.1.dcm")])
    assert await store.read_ranges("1/a/b/c.1.dcm", [(2, 3), (7, 3)]) == [b"234", b"789"]
    assert await store.read("1/a/b/c.1.dcm", 10) == b"0123456789"
