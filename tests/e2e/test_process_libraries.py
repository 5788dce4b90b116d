"""The real server's processes load numpy, Pillow and the codecs only where pixels are decoded, and an idle
server starts none of them."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from harness.factories import make_dataset, to_bytes
from harness.server import Server

PIXEL_LIBRARIES = ("/numpy/", "/PIL/", "/_libjpeg", "/_openjpeg")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            pending.extend(int(child) for child in (task / "children").read_text().split())
    return tree


def with_pixel_libraries(pid: int) -> set[int]:
    """The processes of ``pid``'s tree that have a pixel library's files mapped."""
    return {
        member
        for member in process_tree(pid)
        if any(
            library in line
            for line in Path(f"/proc/{member}/maps").read_text().splitlines()
            for library in PIXEL_LIBRARIES
        )
    }


def worker_processes(pid: int) -> list[int]:
    """The processes of ``pid``'s tree but itself and multiprocessing's resource tracker (which the check of an
    Azure blob store at start-up leaves behind)."""
    return [
        member
        for member in process_tree(pid)[1:]
        if b"resource_tracker" not in Path(f"/proc/{member}/cmdline").read_bytes()
    ]


def wait_for_workers(pid: int, count: int) -> list[int]:
    """The worker processes of ``pid`` once at least ``count`` have joined it, or after 30 s those there are.

    The first upload starts the workers in the background (its jobs run in threads until they are ready),
    so they join the tree some time after its answer.
    """
    deadline = time.monotonic() + 30
    while len(workers := worker_processes(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return workers


def test_storing_and_serving_load_no_pixel_library_and_rendering_does_elsewhere(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        ds = make_dataset()
        path = f"/v2/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
        with httpx.Client(base_url=server.url, timeout=60) as http:
            stored = http.post("/v2/studies", content=to_bytes(ds), headers={"Content-Type": "application/dicom"})
            assert stored.status_code == 200
            frame = http.get(path + "/frames/1", headers={"Accept": "application/octet-stream; transfer-syntax=*"})
            assert frame.status_code == 200 and frame.content == ds.PixelData
            assert len(wait_for_workers(server.process.pid, 2)) >= 2  # the forkserver and the parsing workers
            before_rendering = process_tree(server.process.pid)
            assert with_pixel_libraries(server.process.pid) == set()

            rendered = http.get(path + "/rendered", headers={"Accept": "image/png"})
            assert rendered.status_code == 200 and rendered.content.startswith(b"\x89PNG")
            renderers = with_pixel_libraries(server.process.pid)
            assert renderers and not renderers & set(before_rendering)
    finally:
        server.stop()


def test_an_idle_server_is_one_process_and_its_first_upload_starts_the_workers(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        assert worker_processes(server.process.pid) == []
        ds = make_dataset()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            stored = http.post("/v2/studies", content=to_bytes(ds), headers={"Content-Type": "application/dicom"})
            assert stored.status_code == 200
        assert len(wait_for_workers(server.process.pid, 2)) >= 2  # the forkserver and the parsing workers
    finally:
        server.stop()


def test_a_server_restarted_on_stored_instances_is_ready_with_its_pixel_workers_loaded(tmp_path):
    """So the first rendered image after start-up does not wait for numpy, Pillow and the codecs to load."""
    server = Server(tmp_path / "data").start()
    try:
        ds = make_dataset()
        with httpx.Client(base_url=server.url, timeout=60) as http:
            stored = http.post("/v2/studies", content=to_bytes(ds), headers={"Content-Type": "application/dicom"})
            assert stored.status_code == 200
    finally:
        server.stop()
    restarted = Server(tmp_path / "data").start()
    try:
        assert with_pixel_libraries(restarted.process.pid)
    finally:
        restarted.stop()
