"""Sending files in multipart STOW-RS batches and reading Azure's answers into a summary."""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from .connection import open_connection, post

ALREADY_EXISTS = 45070  # 0xB00E: the SOP instance is stored already
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILURE_REASON = "00081197"
AZURE_DICOM_SCOPE = "https://dicom.healthcareapis.azure.com/.default"
RETRIED_STATUSES = (429, 503)
MAX_ATTEMPTS = 4
MAX_BATCH_BYTES = 256 * 1024**2
NO_ANSWER = 0
UNREADABLE = "unreadable"


@dataclass
class Summary:
    """What an upload did: instances stored, already present, failed by reason, and the bytes sent."""

    stored: int = 0
    already_present: int = 0
    failed: Counter = field(default_factory=Counter)
    """Failed instances by reason: Azure's failure reason code, ``HTTP <status>`` (a refused batch), ``no answer``,
    ``unreadable`` (a file that could not be read whole when its batch was sent)."""
    bytes_sent: int = 0
    seconds: float = 0.0
    """From the first request sent to the last answer received."""

    @property
    def failed_count(self) -> int:
        """How many instances failed."""
        return sum(self.failed.values())

    def add_response(self, status: int, body: bytes, files: int) -> None:
        """Counts the answer to one batch of ``files`` files."""
        if status == NO_ANSWER:
            self.failed["no answer"] += files
            return
        if status not in (200, 202, 409):
            self.failed[f"HTTP {status}"] += files
            return
        try:
            dataset = json.loads(body) if body else {}
        except ValueError:
            self.failed[f"HTTP {status}"] += files
            return
        self.stored += len(dataset.get(REFERENCED_SOP_SEQUENCE, {}).get("Value", []))
        for item in dataset.get(FAILED_SOP_SEQUENCE, {}).get("Value", []):
            reason = (item.get(FAILURE_REASON, {}).get("Value") or ["unknown"])[0]
            if reason == ALREADY_EXISTS:
                self.already_present += 1
            else:
                self.failed[str(reason)] += 1


@dataclass
class Found:
    """The DICOM files an upload has found so far, their bytes, and whether the walk has ended."""

    files: int = 0
    bytes: int = 0
    complete: bool = False


def batches(files: Iterable[Path], size: int, found: Found | None = None) -> Iterator[list[Path]]:
    """``files`` in groups of at most ``size`` files and about MAX_BATCH_BYTES, each as soon as it is full (so
    sending begins while a folder is still walked); ``found`` counts them."""
    found = found if found is not None else Found()
    current: list[Path] = []
    current_bytes = 0
    for path in files:
        length = max(_size(path), 0)
        if current and (len(current) >= size or current_bytes + length > MAX_BATCH_BYTES):
            yield current
            current, current_bytes = [], 0
        current.append(path)
        current_bytes += length
        found.files += 1
        found.bytes += length
    found.complete = True
    if current:
        yield current


def multipart_body(paths: Sequence[Path]) -> tuple[bytearray, str, int]:
    """A ``multipart/related`` body of the files at ``paths`` as ``application/dicom`` parts, each file read
    straight into its place; its Content-Type; and how many of the files it holds (one that cannot be read
    whole is left out)."""
    boundary = uuid.uuid4().hex
    opening = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    closing = f"--{boundary}--\r\n".encode()
    sizes = [_size(path) for path in paths]
    body = bytearray(sum(sizes) + len(paths) * (len(opening) + 2) + len(closing))
    view = memoryview(body)
    offset = held = 0
    for path, size in zip(paths, sizes, strict=True):
        start = offset + len(opening)
        if size < 0 or not _read_into(path, view[start : start + size]):
            continue
        view[offset:start] = opening
        view[start + size : start + size + 2] = b"\r\n"
        offset = start + size + 2
        held += 1
    view[offset : offset + len(closing)] = closing
    view.release()
    del body[offset + len(closing) :]
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}', held


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _read_into(path: Path, place: memoryview) -> bool:
    """Whether ``path`` could be read and held exactly ``len(place)`` bytes, now in ``place``."""
    try:
        with open(path, "rb") as file:
            return file.readinto(place) == len(place) and not file.read(1)
    except OSError:
        return False


def studies_url(service_url: str, partition: str | None) -> str:
    """The STOW URL of a service URL (with its version), in ``partition`` when given."""
    base = service_url.rstrip("/")
    return f"{base}/partitions/{partition}/studies" if partition else f"{base}/studies"


def authorization(service_url: str, token: str | None) -> dict[str, str]:
    """The Authorization header: ``token`` when given, else one from azure-identity for a remote service."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    if is_loopback(service_url):
        return {}
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        return {}
    return {"Authorization": f"Bearer {DefaultAzureCredential().get_token(AZURE_DICOM_SCOPE).token}"}


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_all(
    url: str,
    groups: Iterable[Sequence[Path]],
    headers: dict[str, str],
    concurrency: int,
    on_batch: Callable[[int, int], None] = lambda files, sent: None,
) -> Summary:
    """Sends every group as one STOW request, ``concurrency`` at a time, taking each group from ``groups`` when a
    sender is free; ``on_batch(files, bytes)`` after each (one call at a time)."""
    summary = Summary()
    remaining = iter(groups)
    taking, counting = threading.Lock(), threading.Lock()
    path = urlsplit(url).path
    started = time.perf_counter()

    def sender() -> None:
        # One connection per thread, which blocks in the kernel while its body goes out.
        connection = open_connection(url)
        try:
            while True:
                with taking:
                    group = next(remaining, None)
                if group is None:
                    return
                body, content_type, held = multipart_body(group)
                batch_headers = {**headers, "Content-Type": content_type, "Accept": "application/dicom+json"}
                status, answer = _post(connection, path, body, batch_headers) if held else (NO_ANSWER, b"")
                length = len(body) if held else 0
                with counting:
                    if held < len(group):
                        summary.failed[UNREADABLE] += len(group) - held
                    if held:
                        summary.add_response(status, answer, held)
                    summary.bytes_sent += length
                    on_batch(len(group), length)
        finally:
            connection.close()

    with ThreadPoolExecutor(max(1, concurrency)) as senders:
        for running in [senders.submit(sender) for _ in range(max(1, concurrency))]:
            running.result()
    summary.seconds = time.perf_counter() - started
    return summary


def _post(connection: HTTPConnection, path: str, body: bytearray, headers: dict[str, str]) -> tuple[int, bytes]:
    """Posts one batch, again after ``Retry-After`` when throttled or unavailable; its status (0: none) and body."""
    attempt = 1
    while True:
        try:
            status, answer, retry_after = post(connection, path, body, headers)
        except (OSError, HTTPException) as exc:
            if attempt == MAX_ATTEMPTS:
                return NO_ANSWER, str(exc).encode()
            pause = float(attempt)
        else:
            if status not in RETRIED_STATUSES or attempt == MAX_ATTEMPTS:
                return status, answer
            pause = _retry_after(retry_after, attempt)
        time.sleep(pause)
        attempt += 1


def _retry_after(value: str, attempt: int) -> float:
    return min(float(value), 60.0) if value.isdigit() else float(attempt)
