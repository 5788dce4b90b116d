"""Sending files in multipart STOW-RS batches and reading Azure's answers into a summary."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ALREADY_EXISTS = 45070  # 0xB00E: the SOP instance is stored already
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILURE_REASON = "00081197"
AZURE_DICOM_SCOPE = "https://dicom.healthcareapis.azure.com/.default"
RETRIED_STATUSES = (429, 503)
MAX_ATTEMPTS = 4
MAX_BATCH_BYTES = 256 * 1024**2
NO_ANSWER = 0


@dataclass
class Summary:
    """What an upload did: instances stored, already present, failed by reason, and the bytes sent."""

    stored: int = 0
    already_present: int = 0
    failed: Counter = field(default_factory=Counter)
    """Failed instances by reason: Azure's failure reason code, ``HTTP <status>`` (a refused batch), ``no answer``."""
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


def batches(files: Sequence[Path], size: int) -> list[list[Path]]:
    """``files`` in groups of at most ``size`` files and about MAX_BATCH_BYTES."""
    groups: list[list[Path]] = []
    current: list[Path] = []
    current_bytes = 0
    for path in files:
        length = path.stat().st_size
        if current and (len(current) >= size or current_bytes + length > MAX_BATCH_BYTES):
            groups.append(current)
            current, current_bytes = [], 0
        current.append(path)
        current_bytes += length
    if current:
        groups.append(current)
    return groups


def multipart_body(parts: Sequence[bytes]) -> tuple[list[bytes], str]:
    """A ``multipart/related`` body of ``application/dicom`` parts, as the pieces to send one after another
    (the parts themselves, not a copy of them), and its Content-Type."""
    boundary = uuid.uuid4().hex
    chunks = []
    for part in parts:
        chunks += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), part, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return chunks, f'multipart/related; type="application/dicom"; boundary={boundary}'


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


async def send_all(
    url: str,
    groups: Sequence[Sequence[Path]],
    headers: dict[str, str],
    concurrency: int,
    on_batch: Callable[[int, int], None] = lambda files, sent: None,
) -> Summary:
    """Sends every group as one STOW request, ``concurrency`` at a time; ``on_batch(files, bytes)`` after each."""
    summary = Summary()
    queue: asyncio.Queue[Sequence[Path]] = asyncio.Queue()
    for group in groups:
        queue.put_nowait(group)
    timeout = httpx.Timeout(600.0, connect=10.0)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout, headers=headers) as client:

        async def worker() -> None:
            while not queue.empty():
                group = queue.get_nowait()
                parts = await asyncio.to_thread(_read_all, group)
                body, content_type = multipart_body(parts)
                status, answer = await _post(client, url, body, content_type)
                length = sum(len(chunk) for chunk in body)
                summary.add_response(status, answer, len(group))
                summary.bytes_sent += length
                on_batch(len(group), length)

        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    summary.seconds = time.perf_counter() - started
    return summary


async def _post(client: httpx.AsyncClient, url: str, body: list[bytes], content_type: str) -> tuple[int, bytes]:
    """Posts one batch, again after ``Retry-After`` when throttled or unavailable; its status (0: none) and body."""
    length = str(sum(len(chunk) for chunk in body))
    headers = {"Content-Type": content_type, "Accept": "application/dicom+json", "Content-Length": length}
    attempt = 1
    while True:
        try:
            response = await client.post(url, content=_pieces(body), headers=headers)
        except httpx.HTTPError as exc:
            if attempt == MAX_ATTEMPTS:
                return NO_ANSWER, str(exc).encode()
            pause = float(attempt)
        else:
            if response.status_code not in RETRIED_STATUSES or attempt == MAX_ATTEMPTS:
                return response.status_code, response.content
            pause = _retry_after(response, attempt)
        await asyncio.sleep(pause)
        attempt += 1


async def _pieces(body: list[bytes]) -> AsyncIterator[bytes]:
    """The body's pieces, for httpx to send without joining them."""
    for chunk in body:
        yield chunk


def _read_all(paths: Sequence[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


def _retry_after(response: httpx.Response, attempt: int) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 60.0) if value.isdigit() else float(attempt)
