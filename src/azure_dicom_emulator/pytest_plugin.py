"""The pytest plugin (entry point ``azure_dicom_emulator``): the emulator as fixtures for a project's tests.

``dicom_emulator`` (one per session) is a running emulator: a server started on a free port with
a temporary data folder, or the one ``--dicom-emulator-url`` names. ``dicom_client`` is a
``dicomweb_client.DICOMwebClient`` on it; a test marked ``dicom_reset`` finds the emulator
emptied after it. Importing this module loads nothing but the standard library and pytest.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .runtime.tls import verifies_certificates

START_TIMEOUT_SECONDS = 120.0
RESET_MARKER = "dicom_reset"
ACTIVE_OPERATIONS = ("notStarted", "running")


class DicomEmulator:
    """A running emulator: its URLs and its tools (reset, events, faults, operations)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        """The service root, e.g. ``http://127.0.0.1:8080``."""

    @property
    def dicomweb_url(self) -> str:
        """The DICOMweb root of API v2."""
        return f"{self.url}/v2"

    def reset(self) -> None:
        """Removes every instance, change, event, tag, operation and partition (fault rules stay)."""
        self._request("DELETE", "/emulator/data").raise_for_status()

    def events(self, schema: str = "eventgrid") -> list[dict]:
        """The events the server produced since it started or was reset, oldest first."""
        response = self._request("GET", "/emulator/events", params={"schema": schema})
        response.raise_for_status()
        return response.json()

    def add_faults(self, *rules: dict) -> list[dict]:
        """Adds fault injection rules (as ``POST /emulator/faults`` takes them); returns the rules in force."""
        response = self._request("POST", "/emulator/faults", json=list(rules))
        response.raise_for_status()
        return response.json()

    def clear_faults(self) -> None:
        """Removes every fault injection rule."""
        self._request("DELETE", "/emulator/faults").raise_for_status()

    def wait_for_operations(self, timeout: float = 60.0) -> list[dict]:
        """Waits until no operation is running or waiting to start; returns them all. TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            response = self._request("GET", "/emulator/operations")
            response.raise_for_status()
            operations = response.json()
            if not any(operation["status"] in ACTIVE_OPERATIONS for operation in operations):
                return operations
            if time.monotonic() > deadline:
                raise TimeoutError(f"operations still running after {timeout:g} s")
            time.sleep(0.1)

    def _request(self, method: str, path: str, **kwargs: Any):
        import httpx

        return httpx.request(method, self.url + path, timeout=60, **kwargs)


class StartedEmulator(DicomEmulator):
    """An emulator process this plugin started, with its own data folder."""

    def __init__(self, data_dir: Path) -> None:
        port = _free_port()
        super().__init__(f"http://127.0.0.1:{port}")
        self.log = open(data_dir / "server.log", "ab")  # noqa: SIM115 (closed in stop)
        command = [sys.executable, "-m", "azure_dicom_emulator", "serve", "--port", str(port)]
        command += ["--data-dir", str(data_dir / "data")]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=os.environ.copy())
        self._wait_until_ready(data_dir / "server.log")

    def _wait_until_ready(self, log_path: Path) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with httpx.Client(timeout=2, verify=verifies_certificates(self.url)) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the DICOM emulator exited: {log_path.read_text(errors='replace')}")
                try:
                    if http.get(f"{self.url}/health/check").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"the DICOM emulator did not become ready: {log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        """Stops the process and closes its log."""
        stop_process(self.process)
        self.log.close()


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Sends ``sig`` to ``process`` if it still runs and waits for it, killing it when it outlives ``timeout``."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--dicom-emulator-url``: use a running emulator instead of starting one."""
    parser.addoption(
        "--dicom-emulator-url",
        default=os.environ.get("DICOM_EMULATOR_URL"),
        help="the root URL of a running DICOM emulator (default: start one per session)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declares the ``dicom_reset`` marker."""
    config.addinivalue_line("markers", f"{RESET_MARKER}: empty the DICOM emulator after the test")


@pytest.fixture(scope="session")
def dicom_emulator(request: pytest.FixtureRequest) -> Iterator[DicomEmulator]:
    """The session's emulator: the one at ``--dicom-emulator-url``, else a server started for the session."""
    url = request.config.getoption("--dicom-emulator-url")
    if url:
        yield DicomEmulator(url)
        return
    with tempfile.TemporaryDirectory(prefix="dicom-emulator-") as folder:
        started = StartedEmulator(Path(folder))
        try:
            yield started
        finally:
            started.stop()


@pytest.fixture
def dicom_client(request: pytest.FixtureRequest, dicom_emulator: DicomEmulator):
    """A DICOMweb client of the emulator; the emulator is reset after a test marked ``dicom_reset``."""
    from dicomweb_client import DICOMwebClient

    yield DICOMwebClient(url=dicom_emulator.dicomweb_url)
    if request.node.get_closest_marker(RESET_MARKER) is not None:
        dicom_emulator.reset()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
