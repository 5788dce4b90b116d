"""The real server, started as users start it: ``azure-dicom-emulator serve`` on a free port.

With ``DICOM_EMULATOR_TEST_BLOB_ACCOUNT`` set (an Azure Blob account URL, as ``pytest --blob-store azurite``
sets it), every server keeps its instance files in a container of its own in that account, unless its
environment names a blob store itself.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from azure_dicom_emulator.pytest_plugin import stop_process

from .loopback import free_port

BLOB_ACCOUNT_VARIABLE = "DICOM_EMULATOR_TEST_BLOB_ACCOUNT"


class Server:
    """A running emulator process."""

    def __init__(self, data_dir: Path, database_url: str | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.env = env
        account = os.environ.get(BLOB_ACCOUNT_VARIABLE)
        if account and "DICOM_EMULATOR_BLOB_URL" not in env:
            # One container per data dir: a server started again on the same data dir finds its files.
            name = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
            self.env = {**env, "DICOM_EMULATOR_BLOB_URL": f"{account.rstrip('/')}/e2e-{name}"}
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        command = [emulator_executable(), "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.database_url:
            command += ["--database-url", self.database_url]
        env = {**os.environ, **self.env}
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.read_log()}")
            try:
                if httpx.get(self.url + "/health/check", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy: " + self.read_log())

    def blob_names(self) -> list[str]:
        """The keys of every published instance file, in the data dir or the Azure Blob container."""
        url = self.env.get("DICOM_EMULATOR_BLOB_URL", "")
        if url.startswith("http"):
            from azure.storage.blob import ContainerClient

            from azure_dicom_emulator.settings import DEFAULT_BLOB_API_VERSION
            from azure_dicom_emulator.storage.azure_blob_client import development_credential

            container = ContainerClient.from_container_url(
                url, credential=development_credential(), api_version=DEFAULT_BLOB_API_VERSION
            )
            return sorted(blob.name for blob in container.list_blobs())
        root = self.data_dir / "blobs"
        return sorted(str(path.relative_to(root)) for path in root.rglob("*.dcm"))

    def read_log(self) -> str:
        return (self.data_dir.parent / f"server-{self.port}.log").read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process:
            stop_process(self.process, sig)
        self.log.close()


def emulator_executable() -> str:
    """The path of the installed `azure-dicom-emulator` command in this environment."""
    found = shutil.which("azure-dicom-emulator", path=str(Path(sys.executable).parent))
    if not found:
        raise RuntimeError("azure-dicom-emulator is not installed in this environment")
    return found
