"""End to end, on SQLite and PostgreSQL: an extended query tag of every VR family Azure indexes (text, person
name, date/date-time/time, the integer VRs, FL and FD, IS) matches as Azure matches it; DS cannot be added."""

from __future__ import annotations

import struct
import time

import httpx
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from harness.factories import make_dataset, multipart, to_bytes
from harness.server import Server

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

DICOM_JSON = "application/dicom+json"
STOW = {"Accept": DICOM_JSON, "Content-Type": 'multipart/related; type="application/dicom"; boundary=test-boundary'}

# keyword: (level, VR, the value stored in the first instance as raw bytes, the second instance's)
TAGS = {
    "RetrieveAETitle": ("Instance", "AE", b"STORE-SCP", b"OTHER"),
    "PatientAge": ("Study", "AS", b"042Y", b"007Y"),
    "PatientSex": ("Study", "CS", b"F ", b"M "),
    "Occupation": ("Study", "SH", b"Baker ", b"Smith "),
    "InstitutionName": ("Series", "LO", b"General Hospital", b"Clinic"),
    "FrameOfReferenceUID": ("Series", "UI", b"1.2.3.4\0", b"1.2.3.5\0"),
    "PerformingPhysicianName": ("Series", "PN", "Müller^Jürgen".encode("latin-1"), b"Doe^Jane"),
    "SeriesDate": ("Series", "DA", b"20240315", b"20230101"),
    "AcquisitionDateTime": ("Instance", "DT", b"20240315101530.25", b"20230101000000"),
    "SeriesTime": ("Series", "TM", b"101530", b"235959"),
    "SeriesNumber": ("Series", "IS", b"03", b"12"),
    "ReferencePixelX0": ("Instance", "SL", (-70000).to_bytes(4, "little", signed=True), (5).to_bytes(4, "little")),
    "TagAngleSecondAxis": ("Instance", "SS", (-12).to_bytes(2, "little", signed=True), (12).to_bytes(2, "little")),
    "TransducerFrequency": ("Instance", "UL", (4000000000).to_bytes(4, "little"), (1).to_bytes(4, "little")),
    "Rows": ("Instance", "US", (8).to_bytes(2, "little"), (4).to_bytes(2, "little")),
    "RecommendedDisplayFrameRateInFloat": ("Instance", "FL", struct.pack("<f", 2.5), struct.pack("<f", 1.0)),
    "DiffusionBValue": ("Instance", "FD", struct.pack("<d", 1000.125), struct.pack("<d", -0.5)),
}

# (query key, value, whether the first instance matches); the second instance must not match any of these.
MATCHES = [
    ("RetrieveAETitle", "store-scp", True),
    ("PatientAge", "042Y", True),
    ("PatientSex", "f", True),
    ("Occupation", "BAKER", True),
    ("InstitutionName", "general hospital", True),
    ("FrameOfReferenceUID", "1.2.3.4", True),
    ("FrameOfReferenceUID", "1.2.3", False),
    ("PerformingPhysicianName", "muller^jurgen", True),
    ("PerformingPhysicianName", "Müller", False),
    ("SeriesDate", "20240315", True),
    ("SeriesDate", "20240301-20240331", True),
    ("SeriesDate", "20250101-", False),
    ("AcquisitionDateTime", "20240315101530.25", True),
    ("AcquisitionDateTime", "20240315-20240316", True),
    ("SeriesTime", "101530", True),
    ("SeriesTime", "1000-1100", True),
    ("SeriesTime", "-1015", False),
    ("SeriesNumber", "3", True),
    ("SeriesNumber", "0003", True),
    ("ReferencePixelX0", "-70000", True),
    ("TagAngleSecondAxis", "-12", True),
    ("TransducerFrequency", "4000000000", True),
    ("Rows", "8", True),
    ("RecommendedDisplayFrameRateInFloat", "2.5", True),
    ("00089459", "2.50", True),
    ("00089459", "25e-1", True),
    ("00089459", "2.6", False),
    ("DiffusionBValue", "1000.125", True),
    ("DiffusionBValue", "1000", False),
]
UNPARSABLE = [
    ("RecommendedDisplayFrameRateInFloat", "fast", "double", "00089459"),
    ("DiffusionBValue", "1.0.0", "double", "00189087"),
    ("SeriesNumber", "three", "long", "00200011"),
    ("TransducerFrequency", "1.5", "long", "00186030"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def tagged(request, tmp_path_factory):
    """A server with an extended query tag of each VR, and two instances whose values differ in each."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    server = Server(tmp_path_factory.mktemp("tags") / "data", url, DICOM_EMULATOR_OPERATION_POLL_SECONDS="0.1").start()
    try:
        tags = [{"path": keyword, "vr": vr, "level": level} for keyword, (level, vr, _, _) in TAGS.items()]
        added = httpx.post(server.url + "/v2/extendedquerytags", json=tags, timeout=30)
        assert added.status_code == 202, added.text
        _wait_for(added.json()["href"])
        first = make_dataset(rows=8, SpecificCharacterSet="ISO_IR 100")
        second = make_dataset(rows=4, SpecificCharacterSet="ISO_IR 100")
        for keyword, (_, vr, first_value, second_value) in TAGS.items():
            for ds, value in ((first, first_value), (second, second_value)):
                tag = Tag(keyword)
                ds[tag] = RawDataElement(tag, vr, len(value), value, 0, False, True)
        stored = httpx.post(
            server.url + "/v2/studies", content=multipart([to_bytes(first), to_bytes(second)]), headers=STOW
        )
        assert stored.status_code == 200, stored.text
        yield server, first.SOPInstanceUID
    finally:
        server.stop()
        if url:
            drop_postgres_database(url)


def _wait_for(operation_url: str) -> None:
    deadline = time.monotonic() + 60
    while (response := httpx.get(operation_url, timeout=10)).status_code == 202:
        assert time.monotonic() < deadline, "the reindex did not finish"
        time.sleep(0.1)
    assert response.json()["status"] == "succeeded"


@pytest.mark.parametrize(("key", "value", "matches"), MATCHES)
def test_every_extended_query_tag_vr_matches_as_azure_matches(tagged, key, value, matches):
    server, first_sop = tagged
    response = httpx.get(f"{server.url}/v2/instances", params={key: value}, headers={"Accept": DICOM_JSON})
    if not matches:
        assert response.status_code == 204, response.text
        return
    assert response.status_code == 200, response.text
    assert [found["00080018"]["Value"][0] for found in response.json()] == [first_sop]


@pytest.mark.parametrize(("key", "value", "kind", "path"), UNPARSABLE)
def test_an_unparsable_numeric_value_is_400(tagged, key, value, kind, path):
    server, _ = tagged
    response = httpx.get(f"{server.url}/v2/instances", params={key: value}, headers={"Accept": DICOM_JSON})
    assert (response.status_code, response.text) == (
        400,
        f"Invalid query: specified value '{value}' extended query tag with path '{path}' is not a valid {kind} value.",
    )


def test_a_ds_extended_query_tag_is_refused_with_400(tagged):
    server, _ = tagged
    response = httpx.post(server.url + "/v2/extendedquerytags", json=[{"path": "PatientWeight", "level": "Study"}])
    assert (response.status_code, response.text) == (
        400,
        "The VR code 'DS' specified for tag 'PatientWeight' is not supported.",
    )
