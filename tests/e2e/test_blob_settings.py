"""The blob-store settings at the command line: a malformed URL or connection string stops ``serve`` with exit
code 2 naming the setting; a store out of reach stops it with one clear line, no traceback; a shared
file system (``file://``) keeps the files where it says."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from harness.factories import make_dataset, multipart, to_bytes
from harness.loopback import free_port
from harness.server import Server, emulator_executable

STOW = {
    "Accept": "application/dicom+json",
    "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary',
}


def serve(tmp_path, *arguments: str, **env: str) -> subprocess.CompletedProcess:
    command = [emulator_executable(), "serve", "--port", str(free_port()), "--data-dir", str(tmp_path), *arguments]
    clean = {name: value for name, value in os.environ.items() if not name.startswith("DICOM_EMULATOR_BLOB")}
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("arguments", "env", "setting"),
    [
        (["--blob-url", "ftp://example.com/dicom"], {}, "DICOM_EMULATOR_BLOB_URL"),
        (["--blob-url", "https://account.blob.core.windows.net"], {}, "DICOM_EMULATOR_BLOB_URL"),
        (["--blob-url", "file://relative/path"], {}, "DICOM_EMULATOR_BLOB_URL"),
        ([], {"DICOM_EMULATOR_BLOB_URL": "not a url"}, "DICOM_EMULATOR_BLOB_URL"),
        ([], {"DICOM_EMULATOR_BLOB_CONNECTION_STRING": "just words"}, "DICOM_EMULATOR_BLOB_CONNECTION_STRING"),
        ([], {"DICOM_EMULATOR_BLOB_CONNECTION_STRING": "Foo=bar"}, "DICOM_EMULATOR_BLOB_CONNECTION_STRING"),
        ([], {"DICOM_EMULATOR_BLOB_CONNECTION_STRING": "AccountName=x"}, "DICOM_EMULATOR_BLOB_CONNECTION_STRING"),
    ],
)
def test_a_malformed_blob_setting_stops_serve_with_exit_code_2_naming_it(tmp_path, arguments, env, setting):
    finished = serve(tmp_path, *arguments, **env)
    assert finished.returncode == 2, finished.stderr
    assert setting in finished.stderr
    assert "Traceback" not in finished.stderr


def test_a_blob_store_out_of_reach_stops_serve_with_one_clear_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/devstoreaccount1/dicom"  # nothing listens there
    finished = serve(tmp_path, "--blob-url", url)
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr + finished.stdout
    (line,) = finished.stderr.strip().splitlines()
    assert line.startswith(f"Cannot reach the blob store at {url}: ")


def test_a_shared_file_system_blob_url_keeps_the_files_there(tmp_path):
    shared = tmp_path / "shared"
    server = Server(tmp_path / "data", DICOM_EMULATOR_BLOB_URL=f"file://{shared}").start()
    try:
        ds = make_dataset()
        response = httpx.post(server.url + "/v2/studies", content=multipart([to_bytes(ds)]), headers=STOW)
        assert response.status_code == 200, response.text
        (stored,) = shared.rglob("*.dcm")
        assert stored.name == f"{ds.SOPInstanceUID}.1.dcm"
        assert not (tmp_path / "data" / "blobs").exists()
    finally:
        server.stop()
