"""Azurite's queue service (the Azure Storage emulator in node_modules) and a reader of its queues."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from .loopback import free_port

REPO = Path(__file__).resolve().parent.parent
AZURITE_QUEUE = REPO / "node_modules" / ".bin" / "azurite-queue"
# Azurite's well-known development account.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class Azurite:
    """Azurite's queue service on a free loopback port, from the repository's node_modules."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            f"AccountKey={AZURITE_KEY};QueueEndpoint=http://127.0.0.1:{self.port}/devstoreaccount1;"
        )

    def start(self) -> Azurite:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "azurite.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                str(AZURITE_QUEUE),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(self.port),
                "--skipApiVersionCheck",
                "--inMemoryPersistence",
                "--silent",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.process.returncode}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("Azurite did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(15)
        self.log.close()


class QueueReader:
    """Takes every message off a queue, decoding Event Grid's base64, noting when each was read.

    With ``keep`` the messages are only hidden for an hour instead of deleted: half the requests.
    """

    def __init__(self, connection_string: str, name: str, keep: bool = False) -> None:
        self.client = QueueClient.from_connection_string(connection_string, name)
        self.keep = keep
        self.events: list[dict] = []
        self.arrivals: list[float] = []

    def drain(self) -> list[dict]:
        """Every event read so far, after reading what the queue holds now."""
        try:
            for message in self.client.receive_messages(messages_per_page=32, visibility_timeout=3600):
                self.events.append(json.loads(base64.b64decode(message.content)))
                self.arrivals.append(time.time())
                if not self.keep:
                    self.client.delete_message(message)
        except ResourceNotFoundError:
            pass  # the queue appears with the first delivery
        return self.events


def azurite_unavailable_reason() -> str | None:
    """Why Azurite cannot run here, or None. ``make test`` installs it; under CI its absence is an error."""
    if AZURITE_QUEUE.exists() and shutil.which("node"):
        return None
    reason = f"Azurite is not installed at {AZURITE_QUEUE} (run `make test`, which installs it with npm)"
    if os.environ.get("CI"):
        raise RuntimeError(reason)
    return reason
