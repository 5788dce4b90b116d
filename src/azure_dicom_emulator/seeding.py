"""``serve --seed``: a folder of DICOM files stored once the server answers, from a thread of the command."""

from __future__ import annotations

import threading
import time

import httpx

from .runtime.tls import verifies_certificates
from .settings import Settings

READY_TIMEOUT_SECONDS = 120.0


def seed_in_background(settings: Settings) -> threading.Thread:
    """Starts a thread that waits for the server's health check, then uploads ``settings.seed`` to it."""
    thread = threading.Thread(target=_seed, args=(settings,), name="seed", daemon=True)
    thread.start()
    return thread


def _seed(settings: Settings) -> None:
    from rich.console import Console

    from .upload.command import upload

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    root = f"http://{host}:{settings.port}"
    console = Console(stderr=True)
    if not _wait_until_ready(root):
        console.print(f"Seeding skipped: the server at {root} did not become ready")
        return
    partition = "Microsoft.Default" if settings.partitions_enabled else None
    console.print(f"Seeding from {settings.seed}")
    upload([settings.seed], f"{root}/v2", partition, console=console, show_progress=False)


def _wait_until_ready(root: str) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    with httpx.Client(timeout=2, verify=verifies_certificates(root)) as http:
        while time.monotonic() < deadline:
            try:
                if http.get(f"{root}/health/check").status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    return False
