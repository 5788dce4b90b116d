"""Which files an upload sends: DICOM files with or without a preamble, never DICOMDIRs or other files."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydicom.data import get_testdata_file

from azure_dicom_emulator.runtime.tls import verifies_certificates
from azure_dicom_emulator.upload.discovery import dicom_files, is_dicom
from azure_dicom_emulator.upload.stow import Found, Summary, batches, is_loopback, multipart_body


def test_a_file_with_the_dicm_prefix_or_a_header_without_preamble_is_dicom():
    assert is_dicom(Path(get_testdata_file("CT_small.dcm")))
    assert is_dicom(Path(get_testdata_file("ExplVR_LitEndNoMeta.dcm")))


def test_dicomdirs_text_and_empty_files_are_not_sent(tmp_path):
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    shutil.copy(get_testdata_file("DICOMDIR-empty.dcm"), tmp_path / "index.dcm")
    (tmp_path / "notes.txt").write_text("PatientName: nobody\n" * 40)
    (tmp_path / "empty.dcm").write_bytes(b"")
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "image")

    assert [path.name for path in dicom_files([tmp_path])] == ["image"]


def test_batches_hold_at_most_the_batch_size(tmp_path):
    files = []
    for index in range(5):
        path = tmp_path / f"{index}.dcm"
        path.write_bytes(b"x" * 10)
        files.append(path)

    assert [len(group) for group in batches(files, 2)] == [2, 2, 1]


def test_each_batch_is_handed_out_once_full_while_the_walk_goes_on_and_found_counts_the_files(tmp_path):
    walked: list[Path] = []

    def walk():
        for index in range(5):
            path = tmp_path / f"{index}.dcm"
            path.write_bytes(b"x" * 10)
            walked.append(path)
            yield path

    found = Found()
    groups = batches(walk(), 2, found)

    assert next(groups) == walked[:2]
    assert len(walked) == 3 and not found.complete
    assert [len(group) for group in groups] == [2, 1]
    assert (found.files, found.bytes, found.complete) == (5, 50, True)


def test_a_batch_body_holds_each_file_as_one_part_and_leaves_out_a_file_gone_since_it_was_found(tmp_path):
    first, gone, last = tmp_path / "1.dcm", tmp_path / "2.dcm", tmp_path / "3.dcm"
    first.write_bytes(b"first")
    last.write_bytes(b"the last one")

    body, content_type, held = multipart_body([first, gone, last])

    boundary = content_type.rsplit("boundary=", 1)[1]
    part = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n"
    assert held == 2
    assert bytes(body) == f"{part}first\r\n{part}the last one\r\n--{boundary}--\r\n".encode()


def test_a_summary_counts_stored_already_present_and_failed_instances_by_reason():
    summary = Summary()
    body = (
        b'{"00081199": {"vr": "SQ", "Value": [{}, {}]}, "00081198": {"vr": "SQ", "Value": ['
        b'{"00081197": {"vr": "US", "Value": [45070]}}, {"00081197": {"vr": "US", "Value": [43264]}}]}}'
    )
    summary.add_response(202, body, 4)
    summary.add_response(413, b"", 3)

    assert (summary.stored, summary.already_present, summary.failed_count) == (2, 1, 4)
    assert summary.failed == {"43264": 1, "HTTP 413": 3}


def test_only_loopback_urls_count_as_local():
    assert is_loopback("http://127.0.0.1:8080/v2")
    assert is_loopback("http://localhost/v2")
    assert is_loopback("http://[::1]:8080/v2")
    assert not is_loopback("https://example.dicom.azurehealthcareapis.com/v2")


def test_only_a_client_of_an_https_service_checks_certificates():
    assert verifies_certificates("https://example.dicom.azurehealthcareapis.com/v2")
    assert verifies_certificates("HTTPS://example.dicom.azurehealthcareapis.com/v2")
    assert not verifies_certificates("http://127.0.0.1:8080/v2")
