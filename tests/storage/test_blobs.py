"""Reading a whole blob from the page cache without waiting for the disk."""

import os

from azure_dicom_emulator.storage.blobs import read_if_cached


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
