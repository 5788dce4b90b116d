"""What a viewer asks for: single frames of a multi-frame instance, frames while scrolling a series,
and rendered JPEG thumbnails.

These requests go through ``wire``, a lean HTTP/1.1 client: a viewer's HTTP stack is native code, and
on two cores Python's http.client (let alone httpx) would spend more CPU receiving a frame than the
servers spend sending it.
"""

from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import multipart_body
from PIL import Image
from servers import Server
from testdata import COLUMNS, ROWS, Instance, ct_header, ct_pixels, file_meta, make_uid
from wire import Answer, WireConnection
from workloads import (
    LATENCY_PHASE_TIMEOUT_S,
    VERIFY_SAMPLE,
    WARMUP_REQUESTS,
    Latency,
    WorkloadError,
    check_stow_response,
    instance_url,
    percentiles,
    post_stow,
    spread,
    stow_connection,
)

FRAMES = 100
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
SCROLL_CLIENTS = 6
MULTIFRAME_STUDY = 900  # a study number far from the single-frame studies


@dataclass
class MultiFrame:
    """The 100-frame instance as sent, and the bytes of each of its frames."""

    instance: Instance
    frames: list[bytes]
    data: bytes


@dataclass
class Rate:
    """Frames fetched per second over a whole phase."""

    frames: int
    seconds: float
    clients: int

    @property
    def per_second(self) -> float:
        """Frames per wall-clock second."""
        return self.frames / self.seconds


def multiframe(tag: int) -> MultiFrame:
    """A 100-frame 512x512 16-bit CT instance (about 52 MB) under run tag ``tag``."""
    ds = ct_header(MULTIFRAME_STUDY, 0)
    sop = make_uid(tag, "instance", MULTIFRAME_STUDY)
    ds.file_meta = file_meta(sop)
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = make_uid(tag, "study", MULTIFRAME_STUDY)
    ds.SeriesInstanceUID = make_uid(tag, "series", MULTIFRAME_STUDY)
    ds.NumberOfFrames = FRAMES
    frames = [ct_pixels(MULTIFRAME_STUDY, number).tobytes() for number in range(FRAMES)]
    ds.PixelData = b"".join(frames)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    instance = Instance(
        path=None,  # type: ignore[arg-type]  # held in memory, never cached
        tag=tag,
        study_uid=ds.StudyInstanceUID,
        series_uid=ds.SeriesInstanceUID,
        sop_uid=sop,
        size=len(out.getvalue()),
    )
    return MultiFrame(instance, frames, out.getvalue())


class Connection:
    """One persistent HTTP/1.1 connection to a server, as a viewer keeps (``wire``: a client with a native
    HTTP stack's small cost per request)."""

    def __init__(self, server: Server) -> None:
        parts = urlsplit(server.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.connection = WireConnection(parts.hostname, parts.port)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def get(self, url: str, accept: str) -> Answer:
        """GET ``url`` (absolute, on this server); a 200 answer, valid until the next request."""
        answer = self.connection.get(url.removeprefix(self.origin), {"Accept": accept, "Accept-Encoding": "identity"})
        if answer.status != 200:
            raise WorkloadError(f"GET {url} answered {answer.status}: {answer.content()[:300]!r}")
        return answer

    def timed_get(self, url: str, accept: str) -> tuple[float, Answer]:
        """Like :meth:`get`, with the elapsed milliseconds first."""
        started = time.perf_counter()
        answer = self.get(url, accept)
        return (time.perf_counter() - started) * 1000.0, answer


class HttpxConnection:
    """The same requests through a plain ``httpx.Client``, the client most Python users have."""

    def __init__(self, server: Server) -> None:
        self.client = httpx.Client(timeout=60)

    def __enter__(self) -> HttpxConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.client.close()

    def get(self, url: str, accept: str) -> httpx.Response:
        """GET ``url``; a 200 answer."""
        response = self.client.get(url, headers={"Accept": accept})
        if response.status_code != 200:
            raise WorkloadError(f"GET {url} answered {response.status_code}: {response.content[:300]!r}")
        return response

    def timed_get(self, url: str, accept: str) -> tuple[float, httpx.Response]:
        """Like :meth:`get`, with the elapsed milliseconds first."""
        started = time.perf_counter()
        response = self.get(url, accept)
        return (time.perf_counter() - started) * 1000.0, response


def first_frame_length(answer: Answer) -> int:
    """The length of the first part's payload of a frames answer, measured without copying it."""
    start, end = multipart_body.first_part_span(
        answer.buffer, answer.start, answer.end, answer.headers.get("content-type", "")
    )
    return end - start


def store_multiframe(server: Server, item: MultiFrame) -> None:
    """Store the multi-frame instance with one STOW-RS request."""
    connection = stow_connection(server)
    try:
        check_stow_response(post_stow(connection, server, multipart_body.build_body([item.data])), 1)
    finally:
        connection.close()


def frame_url(server: Server, instance: Instance, number: int) -> str:
    """The WADO-RS URL of one frame."""
    return f"{instance_url(server, instance)}/frames/{number}"


def frame_latency(server: Server, item: MultiFrame, requests: int) -> Latency:
    """Sequential requests for single frames of the multi-frame instance, in a random order."""
    rng = random.Random(7)
    samples: list[float] = []
    verified = 0
    deadline = time.monotonic() + LATENCY_PHASE_TIMEOUT_S
    with Connection(server) as client:
        for _ in range(WARMUP_REQUESTS):
            client.get(frame_url(server, item.instance, rng.randint(1, FRAMES)), FRAME_ACCEPT)
        for number in range(requests):
            if time.monotonic() > deadline:
                break
            frame = rng.randint(1, FRAMES)
            elapsed_ms, answer = client.timed_get(frame_url(server, item.instance, frame), FRAME_ACCEPT)
            samples.append(elapsed_ms)
            if number < VERIFY_SAMPLE:
                received = multipart_body.first_part(answer.content(), answer.headers.get("content-type", ""))
                if received != item.frames[frame - 1]:
                    raise WorkloadError(f"frame {frame} came back different from the stored frame")
                verified += 1
    return Latency(len(samples), *percentiles(samples), verified=verified)


def scroll_rate(server: Server, items: list[Instance], clients: int = SCROLL_CLIENTS) -> Rate:
    """Frame 1 of every instance in order, fetched by ``clients`` concurrent connections as a viewer does."""
    pending = list(reversed(items))
    lock = threading.Lock()
    sizes = {ROWS * COLUMNS * 2}

    def worker() -> int:
        fetched = 0
        with Connection(server) as client:
            while True:
                with lock:
                    if not pending:
                        return fetched
                    instance = pending.pop()
                length = first_frame_length(client.get(frame_url(server, instance, 1), FRAME_ACCEPT))
                if length not in sizes:
                    raise WorkloadError(f"a frame of {length} bytes came back")
                fetched += 1

    with ThreadPoolExecutor(max_workers=clients) as executor:
        started = time.perf_counter()
        fetched = sum(future.result() for future in [executor.submit(worker) for _ in range(clients)])
        elapsed = time.perf_counter() - started
    return Rate(fetched, elapsed, clients)


def rendered_latency(server: Server, items: list[Instance], requests: int, connection: type = Connection) -> Latency:
    """Sequential rendered JPEGs of single-frame 512x512 CT instances over one ``connection`` (``Connection`` or
    ``HttpxConnection``); a sample is decoded and measured."""
    samples: list[float] = []
    verified = 0
    deadline = time.monotonic() + LATENCY_PHASE_TIMEOUT_S
    with connection(server) as client:
        for instance in spread(items, WARMUP_REQUESTS):
            client.get(instance_url(server, instance) + "/rendered", "image/jpeg")
        for number, instance in enumerate(spread(items, requests)):
            if time.monotonic() > deadline:
                break
            elapsed_ms, answer = client.timed_get(instance_url(server, instance) + "/rendered", "image/jpeg")
            samples.append(elapsed_ms)
            if number < VERIFY_SAMPLE:
                content = answer.content if isinstance(answer, httpx.Response) else answer.content()
                size = Image.open(io.BytesIO(content)).size
                if size != (COLUMNS, ROWS):
                    raise WorkloadError(f"a rendered image of {size} came back")
                verified += 1
    return Latency(len(samples), *percentiles(samples), verified=verified)
