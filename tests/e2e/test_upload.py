"""``azure-dicom-emulator upload`` and ``serve --seed``: a folder tree of mixed files stored over STOW-RS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

from harness.factories import make_dataset, to_bytes
from harness.server import Server, emulator_executable

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"]
INVALID_UID_REASON = "43264"  # 0xA900: the instance failed validation


@pytest.fixture
def folder(tmp_path) -> Path:
    """Three pydicom samples in nested folders, one of them twice, an invalid instance, a DICOMDIR and other files."""
    root = tmp_path / "tree"
    for index, name in enumerate(SAMPLES):
        target = root / f"study{index}" / "nested" / name
        target.parent.mkdir(parents=True)
        shutil.copy(get_testdata_file(name), target)
    (root / "copies").mkdir()
    shutil.copy(get_testdata_file(SAMPLES[0]), root / "copies" / "same-as-ct.dcm")
    invalid = make_dataset()
    invalid.StudyInstanceUID = "1.2.abc"
    (root / "copies" / "invalid.dcm").write_bytes(to_bytes(invalid))
    shutil.copy(get_testdata_file("DICOMDIR"), root / "DICOMDIR")
    (root / "notes.txt").write_text("not an image\n" * 20)
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    return root


def sample_uids() -> set[str]:
    return {str(dcmread(get_testdata_file(name), stop_before_pixels=True).SOPInstanceUID) for name in SAMPLES}


def stored_uids(server: Server) -> set[str]:
    response = httpx.get(f"{server.url}/v2/instances", params={"limit": 100}, timeout=30)
    if response.status_code == 204:
        return set()
    return {item["00080018"]["Value"][0] for item in response.json()}


def test_upload_stores_the_dicom_files_of_a_tree_and_reports_45070_and_failure_reasons(tmp_path, folder):
    server = Server(tmp_path / "data").start()
    try:
        result = subprocess.run(
            [emulator_executable(), "upload", str(folder), "--url", f"{server.url}/v2", "--batch", "2"],
            capture_output=True,
            text=True,
            timeout=300,
        )

        assert result.returncode == 1, result.stderr
        assert "5 DICOM file(s)" in result.stderr
        assert "3 stored, 1 already present (45070), 1 failed" in result.stderr
        assert re.search(r"sent in [0-9.]+ s \([0-9]+ instances/s\)", result.stderr)
        assert f"1 with reason {INVALID_UID_REASON}" in result.stderr
        assert stored_uids(server) == sample_uids()
    finally:
        server.stop()


def test_upload_of_files_already_stored_exits_0_with_every_one_already_present(tmp_path, folder):
    server = Server(tmp_path / "data").start()
    try:
        samples = [str(path) for path in folder.rglob("*.dcm") if path.parent.name == "nested"]
        command = [emulator_executable(), "upload", *samples, "--url", f"{server.url}/v2"]
        first = subprocess.run(command, capture_output=True, text=True, timeout=300)
        again = subprocess.run(command, capture_output=True, text=True, timeout=300)

        assert first.returncode == 0, first.stderr
        assert "3 stored, 0 already present (45070), 0 failed" in first.stderr
        assert again.returncode == 0, again.stderr
        assert "0 stored, 3 already present (45070), 0 failed" in again.stderr
    finally:
        server.stop()


def test_upload_into_a_partition_stores_there(tmp_path, folder):
    server = Server(tmp_path / "data", DICOM_EMULATOR_PARTITIONS_ENABLED="true").start()
    try:
        sample = str(next(folder.rglob("MR_small.dcm")))
        command = [emulator_executable(), "upload", sample, "--url", f"{server.url}/v2", "--partition", "seeded"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)

        assert result.returncode == 0, result.stderr
        found = httpx.get(f"{server.url}/v2/partitions/seeded/instances", timeout=30)
        assert found.status_code == 200
        assert len(found.json()) == 1
    finally:
        server.stop()


def test_upload_to_a_missing_path_exits_2_and_to_a_refusing_service_counts_the_http_status(tmp_path, folder):
    server = Server(tmp_path / "data").start()
    try:
        missing = subprocess.run(
            [emulator_executable(), "upload", str(tmp_path / "nowhere"), "--url", f"{server.url}/v2"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        wrong_version = subprocess.run(
            [emulator_executable(), "upload", str(folder / "copies"), "--url", f"{server.url}/v9"],
            capture_output=True,
            text=True,
            timeout=300,
        )

        assert missing.returncode == 2
        assert "nowhere" in missing.stderr
        assert wrong_version.returncode == 1
        assert "2 with reason HTTP 400" in wrong_version.stderr
    finally:
        server.stop()


def upload(server: Server, *arguments: str) -> subprocess.CompletedProcess:
    command = [emulator_executable(), "upload", *arguments, "--url", f"{server.url}/v2"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_upload_waits_out_a_429_with_retry_after_and_then_stores_every_file(tmp_path, folder):
    server = Server(tmp_path / "data").start()
    try:
        rule = {"method": "POST", "path": "/v2/studies", "status": 429, "retry_after": 1, "count": 2}
        assert httpx.post(f"{server.url}/emulator/faults", json=[rule], timeout=30).status_code == 201
        began = time.monotonic()
        result = upload(server, str(folder / "study0"), str(folder / "study1"), "--batch", "1", "--concurrency", "1")

        assert result.returncode == 0, result.stderr
        assert "2 stored, 0 already present (45070), 0 failed" in result.stderr
        assert time.monotonic() - began >= 2  # each 429 was waited out for its Retry-After
        assert httpx.get(f"{server.url}/emulator/faults", timeout=30).json()[0]["fired"] == 2
    finally:
        server.stop()


def test_upload_sends_its_token_and_without_one_counts_each_files_401_a_large_file_included(tmp_path):
    server = Server(tmp_path / "data", DICOM_EMULATOR_AUTH_ENABLED="true").start()
    try:
        big = make_dataset(rows=2048, columns=2048)  # 8 MB (an answer before the whole body: test_upload_connection)
        big.PixelData = bytes(2048 * 2048 * 2)
        (tmp_path / "tree").mkdir()
        (tmp_path / "tree" / "big.dcm").write_bytes(to_bytes(big))
        (tmp_path / "tree" / "small.dcm").write_bytes(to_bytes(make_dataset()))
        token = subprocess.run(
            [emulator_executable(), "token", "--role", "owner", "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()

        refused = upload(server, str(tmp_path / "tree"), "--batch", "1")
        stored = upload(server, str(tmp_path / "tree"), "--token", token)

        assert refused.returncode == 1
        assert "0 stored, 0 already present (45070), 2 failed" in refused.stderr
        assert "2 with reason HTTP 401" in refused.stderr
        assert stored.returncode == 0, stored.stderr
        assert "2 stored, 0 already present (45070), 0 failed" in stored.stderr
    finally:
        server.stop()


def test_serve_with_seed_stores_the_folder_once_ready(tmp_path, folder):
    server = Server(tmp_path / "data", DICOM_EMULATOR_SEED=str(folder)).start()
    try:
        deadline = time.monotonic() + 120
        while stored_uids(server) != sample_uids() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stored_uids(server) == sample_uids()
        while "already present (45070)" not in server.read_log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "3 stored, 1 already present (45070), 1 failed" in server.read_log()
    finally:
        server.stop()


def test_the_seed_option_of_serve_reaches_the_settings(tmp_path, folder):
    """``serve --seed PATH`` is the command-line spelling of DICOM_EMULATOR_SEED."""
    env = {key: value for key, value in os.environ.items() if key != "DICOM_EMULATOR_SEED"}
    process = subprocess.run(
        [emulator_executable(), "serve", "--seed", str(folder / "missing"), "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert process.returncode == 2
    assert "seed" in process.stderr
