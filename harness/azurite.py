"""Azurite (the Azure Storage emulator in node_modules): its queue or blob service, and a reader of its queues."""

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
from azure.storage.blob import ContainerClient
from azure.storage.queue import QueueClient

from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION
from azure_dicom_emulator.storage.azure_blob_client import DEVELOPMENT_ACCOUNT_KEY as AZURITE_KEY
from azure_dicom_emulator.storage.azure_blob_client import container_from_connection_string

from .loopback import free_port

REPO = Path(__file__).resolve().parent.parent
AZURITE_QUEUE = REPO / "node_modules" / ".bin" / "azurite-queue"
AZURITE_BLOB = REPO / "node_modules" / ".bin" / "azurite-blob"


class Azurite:
    """One of Azurite's services (``queue`` or ``blob``) on a free loopback port, from the repository's node_modules.

    The queue service skips Azurite's API version check; the blob service keeps it, so that clients
    must speak a version this Azurite knows. ``accounts`` (name to base64 key) adds storage accounts
    to the development account. With ``in_memory`` False the data is kept in ``workdir``, so that a
    stopped Azurite started again (on the same port) still holds it.
    """

    def __init__(
        self, workdir: Path, service: str = "queue", accounts: dict[str, str] | None = None, in_memory: bool = True
    ) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.service = service
        self.in_memory = in_memory
        self.accounts = {"devstoreaccount1": AZURITE_KEY, **(accounts or {})}
        self.process: subprocess.Popen | None = None

    def account_endpoint(self, account: str) -> str:
        return f"http://127.0.0.1:{self.port}/{account}"

    def account_connection_string(self, account: str) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={self.accounts[account]};"
            f"{self.service.capitalize()}Endpoint={self.account_endpoint(account)};"
        )

    @property
    def endpoint(self) -> str:
        return self.account_endpoint("devstoreaccount1")

    @property
    def connection_string(self) -> str:
        return self.account_connection_string("devstoreaccount1")

    def start(self) -> Azurite:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.workdir / "azurite.log", "ab")  # noqa: SIM115
        program, skip = (AZURITE_BLOB, []) if self.service == "blob" else (AZURITE_QUEUE, ["--skipApiVersionCheck"])
        self.process = subprocess.Popen(
            [
                str(program),
                f"--{self.service}Host",
                "127.0.0.1",
                f"--{self.service}Port",
                str(self.port),
                *skip,
                *(["--inMemoryPersistence"] if self.in_memory else ["--location", str(self.workdir)]),
                "--silent",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, "AZURITE_ACCOUNTS": ";".join(f"{name}:{key}" for name, key in self.accounts.items())},
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

    def stop(self, graceful: bool = False) -> None:
        """Stops Azurite: at once, or (``graceful``) letting it write what it keeps on disk first."""
        if self.process is not None and self.process.poll() is None:
            if graceful:
                self.process.terminate()
            else:
                self.process.kill()
            self.process.wait(15)
        self.log.close()


def new_container(azurite: Azurite, name: str) -> ContainerClient:
    """A new container in Azurite's blob service, with a client speaking the emulator's pinned API version."""
    container = container_from_connection_string(
        azurite.connection_string, name, api_version=DEFAULT_BLOB_API_VERSION, asynchronous=False
    )
    container.create_container()
    return container


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
