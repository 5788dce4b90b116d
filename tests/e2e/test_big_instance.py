"""A big instance streams through the real server: no process of it ever holds the whole instance in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.big_instance import FRAME_BYTES, frame_bytes, write_big_instance
from harness.server import Server

from .test_process_libraries import process_tree

FRAMES = 400  # 200 MB
CHUNK = 1 << 20


def peak_rss(pid: int) -> int:
    """The VmHWM (peak resident memory) of process ``pid`` in bytes, by its own accounting."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while block := source.read(CHUNK):
            yield block


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[Path, object, str]:
    path = tmp_path_factory.mktemp("big") / "instance.dcm"
    ds, digest = write_big_instance(path, FRAMES)
    return path, ds, digest


def test_a_200_mb_instance_is_stored_retrieved_and_framed_without_any_process_holding_it(tmp_path, big_file):
    path, ds, digest = big_file
    size = path.stat().st_size
    server = Server(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, timeout=300) as http:
            stored = http.post(
                "/v2/studies",
                content=chunks(path),
                headers={"Content-Type": "application/dicom", "Content-Length": str(size)},
            )
            assert stored.status_code == 200, stored.text
            url = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
            received = hashlib.sha256()
            with http.stream("GET", url, headers={"Accept": "application/dicom; transfer-syntax=*"}) as answer:
                assert answer.status_code == 200
                for block in answer.iter_bytes():
                    received.update(block)
            assert received.hexdigest() == digest
            frame = http.get(url + "/frames/321", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
            assert frame.status_code == 200
            assert len(frame.content) == FRAME_BYTES and frame.content == frame_bytes(321)
        peaks = {pid: peak_rss(pid) for pid in process_tree(server.process.pid)}
        assert max(peaks.values()) < size, f"peak RSS by process: {peaks}, instance {size} bytes"
    finally:
        server.stop()
