"""The command line reads every setting from DICOM_EMULATOR_* variables too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from harness.loopback import free_port


def wait_until_healthy(port: int, seconds: float = 60) -> bool:
    """Whether the server on ``port`` answered its health check within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/check", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def test_serve_takes_port_and_data_dir_from_environment(tmp_path):
    port = free_port()
    env = {**os.environ, "DICOM_EMULATOR_PORT": str(port), "DICOM_EMULATOR_DATA_DIR": str(tmp_path / "data")}
    executable = Path(sys.executable).parent / "azure-dicom-emulator"
    process = subprocess.Popen(
        [str(executable), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until_healthy(port)
        assert (tmp_path / "data" / "index.db").exists()
    finally:
        process.terminate()
        process.wait(15)


def test_several_workers_share_one_sqlite_index(tmp_path):
    """Two server processes start together (migrations serialized) and see each other's writes."""
    from pydicom.uid import generate_uid

    from harness.factories import make_dataset, to_bytes

    port = free_port()
    env = {**os.environ, "DICOM_EMULATOR_PORT": str(port), "DICOM_EMULATOR_DATA_DIR": str(tmp_path / "data")}
    executable = Path(sys.executable).parent / "azure-dicom-emulator"
    process = subprocess.Popen(
        [str(executable), "serve", "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_until_healthy(port)
        study = generate_uid()
        headers = {"Content-Type": "application/dicom", "Accept": "application/dicom+json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for _ in range(6):  # new connections: the kernel spreads them over both workers
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as one_shot:
                    response = one_shot.post(
                        "/v2/studies", content=to_bytes(make_dataset(study_uid=study)), headers=headers
                    )
                    assert response.status_code == 200
            metadata = http.get(f"/v2/studies/{study}/metadata", headers={"Accept": "application/dicom+json"})
            assert len(metadata.json()) == 6
    finally:
        process.terminate()
        process.wait(15)
