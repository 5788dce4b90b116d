"""Reading a whole blob from the page cache without waiting for the disk; a blob that is gone."""

import os

import pytest

from azure_dicom_emulator.storage.blobs import BlobNotFound, FileBlobStore, read_if_cached


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


@pytest.mark.parametrize("method", ["size", "read", "open"])
def test_a_key_without_a_file_raises_blob_not_found(tmp_path, method):
    store = FileBlobStore(tmp_path)
    with pytest.raises(BlobNotFound) as raised:
        getattr(store, method)("1/1.2/1.3/1.4.1.dcm")
    assert raised.value.key == "1/1.2/1.3/1.4.1.dcm"
