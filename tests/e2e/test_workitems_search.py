"""End to end: searching workitems by every key, ranges and paging; two clients racing to claim one workitem;
partitions keeping workitems apart. On the real server, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from harness.server import Server
from harness.workitems import DICOM_JSON, HEADERS, assert_annex_f, body, code, state_change, workitem

from ..support.postgres import POSTGRES_SKIP_REASON, create_postgres_database, drop_postgres_database

ACCEPT = {"Accept": DICOM_JSON}
KEYWORD_HINT = (
    "If the parameter is an attribute keyword, check the casing as they are case-sensitive. "
    "The conformance statement has a list of supported query parameters, attributes and the levels."
)


def create(base: str, ds: Dataset) -> str:
    uid = generate_uid()
    response = httpx.post(f"{base}/workitems?{uid}", content=body(ds), headers=HEADERS)
    assert response.status_code == 201, response.text
    return uid


def search(server, **params) -> httpx.Response:
    return httpx.get(f"{server.url}/v2/workitems", params=params, headers=ACCEPT)


def found_uids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["00080018"]["Value"][0] for item in response.json()]


@pytest.fixture
def patient() -> str:
    """A patient ID no other test uses, so that searches see only this test's workitems."""
    return f"P{uuid.uuid4().hex[:12]}"


def test_search_by_patient_id_returns_annex_f_results_newest_first_and_pages(server, patient):
    uids = [create(f"{server.url}/v2", workitem(PatientID=patient)) for _ in range(5)]
    every = search(server, PatientID=patient)
    assert found_uids(every) == uids[::-1]
    for item in every.json():
        assert_annex_f(item)
        assert "00081195" not in item
        assert item["00741000"]["Value"] == ["SCHEDULED"]
    assert found_uids(search(server, PatientID=patient, limit=2)) == uids[::-1][:2]
    assert found_uids(search(server, PatientID=patient, limit=2, offset=2)) == uids[::-1][2:4]
    assert found_uids(search(server, PatientID=patient, limit=2, offset=4)) == uids[:1]
    nothing = search(server, PatientID=patient, offset=5)
    assert nothing.status_code == 204
    assert nothing.content == b""


def test_search_matches_each_sequence_key_by_keyword_or_hex_path(server, patient):
    request = Dataset()
    request.StudyInstanceUID = generate_uid()
    request.AccessionNumber = f"ACC{patient}"
    request.RequestedProcedureID = f"RP{patient}"
    request.IssuerOfAccessionNumberSequence = []
    request.OrderPlacerIdentifierSequence = []
    request.OrderFillerIdentifierSequence = []
    request.RequestedProcedureDescription = ""
    request.RequestedProcedureCodeSequence = []
    target = create(
        f"{server.url}/v2",
        workitem(
            PatientID=patient,
            ReferencedRequestSequence=[request],
            ScheduledStationNameCodeSequence=[code("OTHER"), code(f"N{patient}")],
            ScheduledStationClassCodeSequence=[code(f"C{patient}")],
            ScheduledStationGeographicLocationCodeSequence=[code(f"G{patient}")],
        ),
    )
    create(f"{server.url}/v2", workitem(PatientID=patient))
    cases = {
        "ReferencedRequestSequence.AccessionNumber": f"acc{patient}",
        "0040A370.00080050": f"ACC{patient}",
        "ReferencedRequestSequence.RequestedProcedureID": f"RP{patient}",
        "0040A370.00401001": f"RP{patient}",
        "ScheduledStationNameCodeSequence.CodeValue": f"N{patient}",
        "00404025.00080100": f"N{patient}",
        "ScheduledStationClassCodeSequence.CodeValue": f"C{patient}",
        "00404026.CodeValue": f"C{patient}",
        "ScheduledStationGeographicLocationCodeSequence.CodeValue": f"G{patient}",
    }
    for key, value in cases.items():
        response = search(server, **{key: value, "PatientID": patient})
        assert found_uids(response) == [target], key


def test_search_by_patient_name_ignores_case_and_accents_and_fuzzy_matches_word_prefixes(server, patient):
    named = create(f"{server.url}/v2", workitem(PatientID=patient, PatientName="Gámma^Gil"))
    create(f"{server.url}/v2", workitem(PatientID=patient, PatientName="Other^Person"))
    assert found_uids(search(server, PatientID=patient, PatientName="GAMMA^gil")) == [named]
    assert search(server, PatientID=patient, PatientName="gam").status_code == 204
    assert found_uids(search(server, PatientID=patient, PatientName="gam", fuzzymatching="true")) == [named]
    assert found_uids(search(server, PatientID=patient, PatientName="gam gi", fuzzymatching="true")) == [named]
    assert search(server, PatientID=patient, PatientName="gil gam", fuzzymatching="true").status_code == 204


def test_search_by_start_date_time_takes_inclusive_and_open_ranges(server, patient):
    early = create(
        f"{server.url}/v2", workitem(PatientID=patient, ScheduledProcedureStepStartDateTime="20240101080000")
    )
    late = create(f"{server.url}/v2", workitem(PatientID=patient, ScheduledProcedureStepStartDateTime="20240301080000"))
    key = "ScheduledProcedureStepStartDateTime"
    assert found_uids(search(server, PatientID=patient, **{key: "20240101080000-20240301080000"})) == [late, early]
    assert found_uids(search(server, PatientID=patient, **{key: "20240201-"})) == [late]
    assert found_uids(search(server, PatientID=patient, **{key: "-20240201"})) == [early]
    assert found_uids(search(server, PatientID=patient, **{"00404005": "20240101080000"})) == [early]


def test_search_by_state_sees_the_current_state_and_by_study_instance_uid(server, patient):
    study = generate_uid()
    scheduled = create(f"{server.url}/v2", workitem(PatientID=patient, StudyInstanceUID=study))
    canceled = create(f"{server.url}/v2", workitem(PatientID=patient))
    response = httpx.post(f"{server.url}/v2/workitems/{canceled}/cancelrequest", content=b"[{}]", headers=HEADERS)
    assert response.status_code == 202
    assert found_uids(search(server, PatientID=patient, ProcedureStepState="CANCELED")) == [canceled]
    assert found_uids(search(server, PatientID=patient, ProcedureStepState="scheduled")) == [scheduled]
    assert found_uids(search(server, StudyInstanceUID=study)) == [scheduled]


def test_includefield_adds_top_level_attributes_or_all(server, patient):
    create(f"{server.url}/v2", workitem(PatientID=patient, ExpectedCompletionDateTime="20240102120000"))
    defaults = search(server, PatientID=patient).json()[0]
    assert "00741204" in defaults  # ProcedureStepLabel is a return key
    extra = workitem(PatientID=patient)
    extra.InstitutionName = "General"
    create(f"{server.url}/v2", extra)
    newest = search(server, PatientID=patient, limit=1).json()[0]
    assert "00080080" not in newest
    assert "00080080" in search(server, PatientID=patient, limit=1, includefield="InstitutionName").json()[0]
    assert "00080080" in search(server, PatientID=patient, limit=1, includefield="all").json()[0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"Modality": "CT"}, f"Invalid query: AttributeId Modality is not queryable.  {KEYWORD_HINT}"),
        ({"PatientID": " "}, "Invalid query: AttributeId 'PatientID' has empty string value that is not supported."),
        ({"limit": "500"}, "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
        ({"limit": "0"}, "The query parameter 'Limit' is invalid. The field Limit must be between 1 and 200."),
        (
            {"ReferencedRequestSequence.AccessionNumber.CodeValue": "x"},
            f"Invalid query: AttributeId ReferencedRequestSequence.AccessionNumber.CodeValue is not queryable.  "
            f"{KEYWORD_HINT}",
        ),
        ({"patientid": "x"}, f"Invalid query: unknown query parameter 'patientid'. {KEYWORD_HINT}"),
        (
            {"ScheduledProcedureStepStartDateTime": "2024x"},
            "Invalid query: specified DateTime value '2024x' is invalid for attribute "
            "'ScheduledProcedureStepStartDateTime'. DateTime should be valid and formatted as yyyyMMddHHmmss.FFFFFF.",
        ),
    ],
    ids=["not-queryable", "empty", "limit-high", "limit-zero", "three-levels", "wrong-case", "bad-date-time"],
)
def test_bad_searches_are_400_in_plain_text(server, params, message):
    response = search(server, **params)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == message


def test_a_key_given_twice_is_400(server):
    response = httpx.get(f"{server.url}/v2/workitems?PatientID=a&00100020=b", headers=ACCEPT)
    assert response.status_code == 400
    assert "specified more than once" in response.text


def _claim(server, uid: str, start: threading.Barrier, statuses: list[int]) -> None:
    content = body(state_change(generate_uid(), "IN PROGRESS"))
    start.wait()
    response = httpx.put(f"{server.url}/v2/workitems/{uid}/state", content=content, headers=HEADERS)
    statuses.append(response.status_code)


def test_two_clients_racing_to_claim_a_workitem_exactly_one_wins(server):
    for _ in range(3):
        uid = create(f"{server.url}/v2", workitem())
        start = threading.Barrier(2)
        statuses: list[int] = []
        threads = [threading.Thread(target=_claim, args=(server, uid, start, statuses)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses)[0] == 200
        assert sorted(statuses)[1] in (400, 409)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def partitioned(request, tmp_path_factory):
    """A server with data partitions enabled, on each supported database."""
    url = None
    if request.param == "postgresql":
        if POSTGRES_SKIP_REASON:
            pytest.skip(POSTGRES_SKIP_REASON)
        url = create_postgres_database()
    running = Server(tmp_path_factory.mktemp("partitioned") / "data", url, DICOM_EMULATOR_PARTITIONS_ENABLED="true")
    yield running.start()
    running.stop()
    if url:
        drop_postgres_database(url)


def test_partitions_keep_workitems_apart_and_create_makes_the_partition(partitioned):
    base = f"{partitioned.url}/v2/partitions/ward-a"
    uid = generate_uid()
    response = httpx.post(f"{base}/workitems?{uid}", content=body(workitem()), headers=HEADERS)
    assert response.status_code == 201
    assert response.headers["Location"] == f"{base}/workitems/{uid}"
    assert httpx.get(f"{base}/workitems/{uid}", headers=ACCEPT).status_code == 200
    other = f"{partitioned.url}/v2/partitions/Microsoft.Default"
    missing = httpx.get(f"{other}/workitems/{uid}", headers=ACCEPT)
    assert missing.status_code == 404
    assert missing.text == '"The workitem instance is not found."'
    assert httpx.get(f"{other}/workitems", headers=ACCEPT).status_code == 204
    assert len(httpx.get(f"{base}/workitems", headers=ACCEPT).json()) == 1
    unknown = httpx.get(f"{partitioned.url}/v2/partitions/nowhere/workitems", headers=ACCEPT)
    assert unknown.status_code == 400
    assert unknown.text == "Specified PartitionName does not exist."
    unpartitioned = httpx.get(f"{partitioned.url}/v2/workitems", headers=ACCEPT)
    assert unpartitioned.text == "PartitionName value is missing in the route segment."
    again = httpx.post(f"{other}/workitems?{uid}", content=body(workitem()), headers=HEADERS)
    assert again.status_code == 201
