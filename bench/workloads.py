"""The measured workloads: STOW-RS throughput, retrieval and metadata latency, one large streamed STOW."""

from __future__ import annotations

import http.client
import json
import math
import queue
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import multipart_body
from servers import Server, peak_rss_by_process
from testdata import INSTANCES_PER_STUDY, Instance

BATCH_SIZE = 50
STOW_TIMEOUT_S = 300.0
PHASE_TIMEOUT_S = 900.0
LATENCY_PHASE_TIMEOUT_S = 300.0
WARMUP_REQUESTS = 10
VERIFY_SAMPLE = 20
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"


class WorkloadError(RuntimeError):
    """A server answered a benchmark request wrongly, so its figures would be meaningless."""


@dataclass
class Throughput:
    """Instances stored per second over a whole STOW phase."""

    instances: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Stored instances per wall-clock second."""
        return self.instances / self.seconds


@dataclass
class Latency:
    """Percentiles of a sequential request series, in milliseconds."""

    requests: int
    p50_ms: float
    p95_ms: float
    verified: int


@dataclass
class LargeStow:
    """Memory use of one STOW-RS request far larger than a usual batch."""

    instances: int
    body_bytes: int
    seconds: float
    baseline_rss_bytes: int
    server_peak_rss_bytes: int
    peak_rss_bytes: int
    processes: int


def new_client(timeout: float = STOW_TIMEOUT_S) -> httpx.Client:
    """A persistent client that never asks for compressed responses."""
    return httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=timeout)


def batches(items: list[Instance], size: int = BATCH_SIZE) -> list[list[Instance]]:
    """``items`` split into consecutive batches of ``size``."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def stow_connection(server: Server, timeout: float = STOW_TIMEOUT_S) -> http.client.HTTPConnection:
    """A persistent connection for STOW-RS requests.

    STOW-RS goes through the standard library's ``http.client``, which hands a prebuilt body to the
    socket in one call: httpx spends about 0.6 ms of CPU per 0.5 MB instance sending it, a share of
    the two cores the server under test then lacks.
    """
    address = urlsplit(server.base_url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=timeout)


def check_stow_response(answer: tuple[int, bytes], expected: int) -> None:
    """Fail unless the STOW-RS answer (status, body) reports every instance of the request as stored."""
    status, content = answer
    if status != 200:
        raise WorkloadError(f"STOW answered {status}: {content[:500]!r}")
    body = json.loads(content)
    stored = len(body.get(REFERENCED_SOP_SEQUENCE, {}).get("Value", []))
    failed = len(body.get(FAILED_SOP_SEQUENCE, {}).get("Value", []))
    if stored != expected or failed:
        raise WorkloadError(f"STOW stored {stored} of {expected} instances, {failed} failed")


def post_stow(
    connection: http.client.HTTPConnection,
    server: Server,
    body: bytes | Iterator[bytes],
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Send one STOW-RS request of ``body`` (bytes, or an iterator of bytes with a Content-Length header);
    return the status and body of the answer."""
    connection.request(
        "POST",
        urlsplit(server.base_url).path + "/studies",
        body=body,
        headers={
            "Content-Type": multipart_body.STOW_CONTENT_TYPE,
            "Accept": "application/dicom+json",
            "Accept-Encoding": "identity",
            **(headers or {}),
        },
    )
    response = connection.getresponse()
    return response.status, response.read()


def stow_throughput(
    server: Server, items: list[Instance], clients: int, before_clock: Callable[[], None] = lambda: None
) -> Throughput:
    """Store ``items`` in batches of 50 from ``clients`` concurrent clients and time the whole phase.

    ``before_clock`` runs once the request bodies are built, right before the clock starts.
    """
    bodies: queue.SimpleQueue = queue.SimpleQueue()
    for batch in batches(items):
        bodies.put((len(batch), multipart_body.build_body(instance.read() for instance in batch)))
    before_clock()
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    stop = threading.Event()

    def worker() -> int:
        """Send batches until none is left, the phase times out, or another worker failed."""
        stored = 0
        connection = stow_connection(server)
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    expected, body = bodies.get_nowait()
                except queue.Empty:
                    break
                try:
                    check_stow_response(post_stow(connection, server, body), expected)
                except BaseException:
                    stop.set()
                    raise
                stored += expected
        finally:
            connection.close()
        return stored

    executor = ThreadPoolExecutor(max_workers=clients)
    try:
        started = time.perf_counter()
        futures = [executor.submit(worker) for _ in range(clients)]
        stored = sum(future.result() for future in futures)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        executor.shutdown(wait=False, cancel_futures=True)
    if stored != len(items):
        raise WorkloadError(f"STOW phase timed out after storing {stored} of {len(items)} instances")
    return Throughput(instances=stored, seconds=elapsed)


def instance_url(server: Server, instance: Instance) -> str:
    """The WADO-RS URL of one instance."""
    return f"{server.base_url}/studies/{instance.study_uid}/series/{instance.series_uid}/instances/{instance.sop_uid}"


def spread(items: list, count: int) -> Iterator:
    """``count`` picks cycling through ``items`` with a large stride, so consecutive picks are far apart."""
    stride = max(1, 7919 % len(items))
    while math.gcd(stride, len(items)) != 1:
        stride -= 1
    for number in range(count):
        yield items[(number * stride) % len(items)]


def timed_get(client: httpx.Client, url: str, accept: str) -> tuple[float, httpx.Response]:
    """GET ``url`` and read the whole body; return the elapsed milliseconds and the response."""
    started = time.perf_counter()
    response = client.get(url, headers={"Accept": accept})
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if response.status_code != 200:
        raise WorkloadError(f"GET {url} answered {response.status_code}: {response.text[:500]}")
    return elapsed_ms, response


def percentiles(samples: list[float]) -> tuple[float, float]:
    """The 50th and 95th percentiles of ``samples``."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


def retrieval_latency(server: Server, items: list[Instance], requests: int) -> Latency:
    """Sequential single-instance retrievals; a sample is checked byte for byte against the sent file."""
    samples: list[float] = []
    verified = 0
    deadline = time.monotonic() + LATENCY_PHASE_TIMEOUT_S
    with new_client() as client:
        for instance in spread(items, WARMUP_REQUESTS):
            timed_get(client, instance_url(server, instance), server.instance_accept)
        for number, instance in enumerate(spread(items, requests)):
            if time.monotonic() > deadline:
                break
            elapsed_ms, response = timed_get(client, instance_url(server, instance), server.instance_accept)
            samples.append(elapsed_ms)
            if number < VERIFY_SAMPLE:
                verify_instance(response, instance)
                verified += 1
    return Latency(len(samples), *percentiles(samples), verified=verified)


def verify_instance(response: httpx.Response, instance: Instance) -> None:
    """Fail unless the retrieved file equals the sent one after the 128-byte preamble."""
    received = multipart_body.first_part(response.content, response.headers.get("content-type", ""))
    if received[128:] != instance.read()[128:]:
        raise WorkloadError(f"instance {instance.sop_uid} came back different from the stored file")


def metadata_latency(server: Server, studies: list[Instance], requests: int) -> Latency:
    """Sequential study metadata requests; a sample is checked to describe every instance of the study."""
    samples: list[float] = []
    verified = 0
    deadline = time.monotonic() + LATENCY_PHASE_TIMEOUT_S
    with new_client() as client:
        for study in spread(studies, WARMUP_REQUESTS):
            timed_get(client, metadata_url(server, study), "application/dicom+json")
        for number, study in enumerate(spread(studies, requests)):
            if time.monotonic() > deadline:
                break
            elapsed_ms, response = timed_get(client, metadata_url(server, study), "application/dicom+json")
            samples.append(elapsed_ms)
            if number < VERIFY_SAMPLE:
                verify_metadata(response, study)
                verified += 1
    return Latency(len(samples), *percentiles(samples), verified=verified)


def metadata_url(server: Server, study: Instance) -> str:
    """The study metadata URL of the study ``study`` belongs to."""
    return f"{server.base_url}/studies/{study.study_uid}/metadata"


def verify_metadata(response: httpx.Response, study: Instance) -> None:
    """Fail unless the metadata lists one entry per instance of a full study."""
    entries = len(response.json())
    if entries != INSTANCES_PER_STUDY:
        raise WorkloadError(f"metadata of {study.study_uid} has {entries} entries, not {INSTANCES_PER_STUDY}")


def large_stow(server: Server, items: list[Instance]) -> LargeStow:
    """Stream all of ``items`` as one STOW-RS request and read the server's peak resident memory.

    The peak is the summed VmHWM of the server process and its children, sampled during the
    request (children may come and go) and read once more after it.
    """
    pid = server.process.pid
    baseline = sum(peak_rss_by_process(pid).values())
    length = multipart_body.body_length(items)
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    connection = stow_connection(server, timeout=PHASE_TIMEOUT_S)
    try:
        with RssWatch(pid) as watch:
            started = time.perf_counter()
            answer = post_stow(
                connection,
                server,
                bounded(multipart_body.stream_instances(items), deadline),
                headers={"Content-Length": str(length)},
            )
            elapsed = time.perf_counter() - started
    finally:
        connection.close()
    check_stow_response(answer, len(items))
    return LargeStow(
        instances=len(items),
        body_bytes=length,
        seconds=elapsed,
        baseline_rss_bytes=baseline,
        server_peak_rss_bytes=watch.peaks.get(pid, 0),
        peak_rss_bytes=sum(watch.peaks.values()),
        processes=len(watch.peaks),
    )


class RssWatch:
    """Keeps the highest VmHWM seen for a process and each of its descendants while in use."""

    INTERVAL_S = 0.2

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.sample()

    def _sample_until_stopped(self) -> None:
        """Sample every INTERVAL_S until told to stop."""
        while not self._stop.wait(self.INTERVAL_S):
            self.sample()

    def sample(self) -> None:
        """Record the current VmHWM of every process in the tree."""
        for member, peak in peak_rss_by_process(self.pid).items():
            self.peaks[member] = max(peak, self.peaks.get(member, 0))


def bounded(chunks: Iterator[bytes], deadline: float) -> Iterator[bytes]:
    """Pass ``chunks`` through, giving up once ``deadline`` (a monotonic time) has passed."""
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise WorkloadError("streamed upload timed out")
        yield chunk
