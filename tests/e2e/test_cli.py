"""The command line reads every setting from DICOM_EMULATOR_* variables too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .conftest import free_port


def test_serve_takes_port_and_data_dir_from_environment(tmp_path):
    port = free_port()
    env = {**os.environ, "DICOM_EMULATOR_PORT": str(port), "DICOM_EMULATOR_DATA_DIR": str(tmp_path / "data")}
    executable = Path(sys.executable).parent / "azure-dicom-emulator"
    process = subprocess.Popen(
        [str(executable), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/check", timeout=1).status_code
            except httpx.HTTPError:
                time.sleep(0.1)
        assert status == 200
        assert (tmp_path / "data" / "index.db").exists()
    finally:
        process.terminate()
        process.wait(15)
