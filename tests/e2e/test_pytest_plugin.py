"""The pytest plugin, used by a small project of its own run with pytest in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx

from harness.server import Server

PROJECT_TESTS = """
import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

CREATED = "Microsoft.HealthcareApis.DicomImageCreated"


def test_a_stored_instance_is_found_and_makes_an_event(dicom_client, dicom_emulator):
    dicom_client.store_instances([dcmread(get_testdata_file("CT_small.dcm"))])
    assert len(dicom_client.search_for_studies()) == 1
    assert [event["eventType"] for event in dicom_emulator.events()] == [CREATED]


@pytest.mark.dicom_reset
def test_a_marked_test_sees_the_data_before_it(dicom_client):
    dicom_client.store_instances([dcmread(get_testdata_file("MR_small.dcm"))])
    assert len(dicom_client.search_for_studies()) == 2


def test_the_emulator_is_empty_after_a_marked_test(dicom_client, dicom_emulator):
    assert dicom_client.search_for_studies() == []
    assert dicom_emulator.events() == []


def test_operations_can_be_waited_for(dicom_emulator):
    tag = [{"path": "00100040", "vr": "CS", "level": "Study"}]
    added = httpx.post(dicom_emulator.dicomweb_url + "/extendedquerytags", json=tag)
    assert added.status_code == 202
    operations = dicom_emulator.wait_for_operations()
    assert [operation["status"] for operation in operations] == ["succeeded"]


def test_faults_and_reset_are_at_hand(dicom_client, dicom_emulator):
    dicom_emulator.add_faults({"method": "GET", "path": "/v2/studies", "status": 400, "count": 1})
    with pytest.raises(Exception, match="400"):
        dicom_client.search_for_studies()
    assert dicom_client.search_for_studies() == []
    dicom_emulator.clear_faults()
    dicom_emulator.reset()
    assert dicom_client.search_for_studies() == []
"""


def run_project(tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "test_with_emulator.py").write_text(PROJECT_TESTS)
    installed = any(entry.name == "azure_dicom_emulator" for entry in metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "azure_dicom_emulator.pytest_plugin"]
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, *options, str(project)]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600, env=os.environ.copy())


def test_the_plugin_starts_an_emulator_whose_fixtures_store_reset_and_show_events(tmp_path):
    result = run_project(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


def test_the_plugin_uses_the_emulator_at_the_given_url(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        result = run_project(tmp_path, "--dicom-emulator-url", server.url, "-k", "stored_instance")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 passed" in result.stdout
        assert "POST" in {entry["method"] for entry in httpx.get(server.url + "/emulator/requests").json()}
    finally:
        server.stop()
