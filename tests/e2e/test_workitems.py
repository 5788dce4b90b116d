"""End to end: the life of a workitem (UPS-RS) on the real server, through every path of the state table,
with Azure's statuses, bodies and headers for each refusal; SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from harness.workitems import (
    DICOM_JSON,
    HEADERS,
    assert_annex_f,
    body,
    cancellation,
    code,
    completion,
    state_change,
    workitem,
)

UPS_PUSH = "1.2.840.10008.5.1.4.34.6.1"
NOT_FOUND = '"The workitem instance is not found."'


def create(server, ds: Dataset, query: str | None = None) -> httpx.Response:
    uid = query if query is not None else generate_uid()
    return httpx.post(f"{server.url}/v2/workitems?{uid}", content=body(ds), headers=HEADERS)


def created(server, **attributes) -> str:
    uid = generate_uid()
    response = create(server, workitem(**attributes), uid)
    assert response.status_code == 201, response.text
    return uid


def retrieve(server, uid: str) -> dict:
    response = httpx.get(f"{server.url}/v2/workitems/{uid}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 200, response.text
    return response.json()


def update(server, uid: str, ds: Dataset, transaction_uid: str | None = None) -> httpx.Response:
    query = f"?{transaction_uid}" if transaction_uid else ""
    return httpx.post(f"{server.url}/v2/workitems/{uid}{query}", content=body(ds), headers=HEADERS)


def change_state(server, uid: str, transaction_uid: str | None, state: str | None) -> httpx.Response:
    request = state_change(transaction_uid, state)
    return httpx.put(f"{server.url}/v2/workitems/{uid}/state", content=body(request), headers=HEADERS)


def cancel(server, uid: str, ds: Dataset | None = None) -> httpx.Response:
    content = body(ds if ds is not None else Dataset())
    return httpx.post(f"{server.url}/v2/workitems/{uid}/cancelrequest", content=content, headers=HEADERS)


def state_of(server, uid: str) -> str:
    return retrieve(server, uid)["00741000"]["Value"][0]


def is_json_string(response: httpx.Response, text: str) -> bool:
    return response.headers["content-type"].startswith("application/json") and response.json() == text


def warning(text: str) -> str:
    return f'299 127.0.0.1: "{text}"'


def test_create_answers_201_with_absolute_locations_and_retrieve_gives_one_annex_f_object(server):
    uid = generate_uid()
    response = create(server, workitem(), uid)
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["Location"] == f"{server.url}/v2/workitems/{uid}"
    assert response.headers["Content-Location"] == response.headers["Location"]
    found = retrieve(server, uid)
    assert_annex_f(found)
    assert found["00080016"]["Value"] == [UPS_PUSH]
    assert found["00080018"]["Value"] == [uid]
    assert found["00741202"]["Value"] == ["worklist"]
    assert found["00741000"]["Value"] == ["SCHEDULED"]
    assert found["00404010"]["Value"][0][:8].isdigit()
    assert "00081195" not in found
    assert found["00100010"]["Value"] == [{"Alphabetic": "Gamma^Gil"}]
    assert found["00100030"] == {"vr": "DA"}


def test_create_takes_the_uid_from_affected_sop_instance_uid_or_from_the_dataset(server):
    uid = generate_uid()
    response = create(server, workitem(), f"AffectedSOPInstanceUID={uid}")
    assert response.status_code == 201
    assert response.headers["Location"].endswith(f"/workitems/{uid}")
    in_dataset = generate_uid()
    response = httpx.post(
        f"{server.url}/v2/workitems", content=body(workitem(SOPInstanceUID=in_dataset)), headers=HEADERS
    )
    assert response.status_code == 201
    assert retrieve(server, in_dataset)["00080018"]["Value"] == [in_dataset]


def test_a_second_create_with_the_same_uid_is_409_as_a_json_string(server):
    uid = created(server)
    response = create(server, workitem(), uid)
    assert response.status_code == 409
    assert is_json_string(response, "The workitem instance already exists. Try creating using a different UID.")


def test_create_with_a_payload_uid_other_than_the_query_uid_is_400(server):
    uid = generate_uid()
    response = create(server, workitem(SOPInstanceUID=generate_uid()), uid)
    assert response.status_code == 400
    assert is_json_string(response, "SOPInstanceUID in the payload does not match the workitem query parameter.")
    assert httpx.get(f"{server.url}/v2/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404


def _without(keyword: str) -> Dataset:
    ds = workitem()
    delattr(ds, keyword)
    return ds


def _request_without_study() -> Dataset:
    ds = workitem()
    del ds.ReferencedRequestSequence[0].StudyInstanceUID
    return ds


def _progress_at_create() -> Dataset:
    progress = Dataset()
    progress.ProcedureStepProgress = 50
    return workitem(ProcedureStepProgressInformationSequence=[progress])


def _code_without_meaning() -> Dataset:
    item = code("STATION1")
    del item.CodeMeaning
    return workitem(ScheduledStationNameCodeSequence=[item])


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        (lambda: _without("ProcedureStepLabel"), "The required tag '(0074,1204)' is missing."),
        (lambda: workitem(ProcedureStepLabel=""), "The value for tag '(0074,1204)' is missing."),
        (lambda: _without("PatientName"), "The required tag '(0010,0010)' is missing."),
        (lambda: _without("ScheduledWorkitemCodeSequence"), "The required tag '(0040,4018)' is missing."),
        (lambda: _without("TransactionUID"), "The required tag '(0008,1195)' is missing."),
        (lambda: workitem(TransactionUID=generate_uid()), "The attribute with tag '(0008,1195)' must be empty."),
        (_progress_at_create, "The attribute with tag '(0074,1004)' cannot be present."),
        (_code_without_meaning, "The required tag '(0008,0104)' is missing."),
        (_request_without_study, "The required tag '(0020,000d)' is missing."),
        (
            lambda: workitem(PatientBirthDate="2024-01-02"),
            "Dicom element 'PatientBirthDate' failed validation for VR 'DA': Value cannot be parsed as a valid date.",
        ),
    ],
    ids=[
        "type1-missing",
        "type1-empty",
        "type2-missing",
        "type2-sequence-missing",
        "transaction-uid-missing",
        "transaction-uid-valued",
        "progress-at-create",
        "code-meaning-missing",
        "request-study-missing",
        "bad-date",
    ],
)
def test_create_refuses_unmet_n_create_requirements_with_400_and_stores_nothing(server, dataset, message):
    uid = generate_uid()
    response = create(server, dataset(), uid)
    assert response.status_code == 400
    assert is_json_string(response, message)
    assert httpx.get(f"{server.url}/v2/workitems/{uid}", headers={"Accept": DICOM_JSON}).status_code == 404


def test_retrieve_of_an_unknown_workitem_is_404_as_a_json_string_and_a_bad_uid_400_as_text(server):
    response = httpx.get(f"{server.url}/v2/workitems/{generate_uid()}", headers={"Accept": DICOM_JSON})
    assert response.status_code == 404
    assert response.text == NOT_FOUND
    response = httpx.get(f"{server.url}/v2/workitems/abc.123", headers={"Accept": DICOM_JSON})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("DICOM Identifier is invalid.")


def test_a_workitem_claimed_updated_and_completed_then_repeated_warns_b306(server):
    uid = created(server)
    transaction = generate_uid()
    claimed = change_state(server, uid, transaction, "IN PROGRESS")
    assert claimed.status_code == 200
    assert claimed.content == b""
    assert "Warning" not in claimed.headers
    assert state_of(server, uid) == "IN PROGRESS"
    assert "00081195" not in retrieve(server, uid)
    early = change_state(server, uid, transaction, "COMPLETED")
    assert early.status_code == 400
    assert is_json_string(early, "The value for tag '(0074,1216)' is missing.")
    assert state_of(server, uid) == "IN PROGRESS"
    updated = update(server, uid, completion(), transaction)
    assert updated.status_code == 200
    assert updated.headers["Content-Location"] == f"{server.url}/v2/workitems/{uid}"
    completed = change_state(server, uid, transaction, "COMPLETED")
    assert completed.status_code == 200
    assert "Warning" not in completed.headers
    assert state_of(server, uid) == "COMPLETED"
    again = change_state(server, uid, transaction, "COMPLETED")
    assert again.status_code == 200
    text = "The workitem instance is already in the final state 'COMPLETED'. B306."
    assert again.headers["Warning"] == warning(text)
    final = "The workitem instance is already in the final state 'COMPLETED'. C300."
    assert is_json_string(update(server, uid, completion(), transaction), final)
    other = change_state(server, uid, transaction, "CANCELED")
    assert other.status_code == 400
    assert is_json_string(other, "The workitem instance can not transition to 'CANCELED' state: C300.")
    assert state_of(server, uid) == "COMPLETED"


def test_a_workitem_canceled_by_its_owner_then_repeated_warns_b304(server):
    uid = created(server)
    transaction = generate_uid()
    assert change_state(server, uid, transaction, "IN PROGRESS").status_code == 200
    early = change_state(server, uid, transaction, "CANCELED")
    assert is_json_string(early, "The value for tag '(0074,1002)' is missing.")
    assert update(server, uid, cancellation(), transaction).status_code == 200
    assert change_state(server, uid, transaction, "CANCELED").status_code == 200
    assert state_of(server, uid) == "CANCELED"
    again = change_state(server, uid, transaction, "CANCELED")
    assert again.status_code == 200
    text = "The workitem instance is already in the final state 'CANCELED'. B304."
    assert again.headers["Warning"] == warning(text)
    stranger = change_state(server, uid, generate_uid(), "CANCELED")
    assert is_json_string(stranger, "The workitem instance can not transition to 'CANCELED' state: C300.")


def test_cancelrequest_on_a_scheduled_workitem_is_202_and_fills_in_the_cancellation(server):
    uid = created(server)
    request = Dataset()
    request.ReasonForCancellation = "Patient left"
    request.ContactURI = "mailto:desk@example.org"
    request.ContactDisplayName = "Front desk"
    response = cancel(server, uid, request)
    assert response.status_code == 202
    assert is_json_string(response, "The workitem instance has been cancelled.")
    found = retrieve(server, uid)
    assert_annex_f(found)
    assert found["00741000"]["Value"] == ["CANCELED"]
    progress = found["00741002"]["Value"][0]
    assert progress["00404052"]["Value"][0][:8].isdigit()
    assert progress["00741238"]["Value"] == ["Patient left"]
    assert progress["0074100E"]["Value"][0]["00080104"]["Value"] == ["Discontinued for unspecified reason"]
    contact = progress["00741008"]["Value"][0]
    assert contact["0074100A"]["Value"] == ["mailto:desk@example.org"]
    assert contact["0074100C"]["Value"] == ["Front desk"]
    again = cancel(server, uid)
    text = "The UPS is already in the requested state of CANCELED."
    assert again.status_code == 409
    assert is_json_string(again, text)
    assert again.headers["Warning"] == warning(text)


def test_cancelrequest_on_a_workitem_in_progress_or_completed_is_409_with_a_warning(server):
    uid = created(server)
    transaction = generate_uid()
    assert change_state(server, uid, transaction, "IN PROGRESS").status_code == 200
    response = cancel(server, uid)
    text = "The workitem instance can not transition to 'CANCELED' state: C312."
    assert response.status_code == 409
    assert is_json_string(response, text)
    assert response.headers["Warning"] == warning(text)
    assert state_of(server, uid) == "IN PROGRESS"
    assert update(server, uid, completion(), transaction).status_code == 200
    assert change_state(server, uid, transaction, "COMPLETED").status_code == 200
    response = cancel(server, uid)
    assert response.status_code == 409
    assert is_json_string(response, "The UPS is already COMPLETED.")
    assert response.headers["Warning"] == warning("The UPS is already COMPLETED.")
    unknown = cancel(server, generate_uid())
    assert unknown.status_code == 404
    assert unknown.text == NOT_FOUND


@pytest.mark.parametrize(
    ("transaction", "state", "message"),
    [
        ("new", "COMPLETED", "The workitem instance can not transition to 'COMPLETED' state: C310."),
        ("new", "CANCELED", "The workitem instance can not transition to 'CANCELED' state: C310."),
        (
            "new",
            "SCHEDULED",
            "Expected value '(0074,1000)' to be one of the following values: [IN PROGRESS, COMPLETED, CANCELED]",
        ),
        (
            "new",
            "DONE",
            "Expected value '(0074,1000)' to be one of the following values: [IN PROGRESS, COMPLETED, CANCELED]",
        ),
        (None, "IN PROGRESS", "The required tag '(0008,1195)' is missing."),
        ("", "IN PROGRESS", "The value for tag '(0008,1195)' is missing."),
        ("new", None, "The required tag '(0074,1000)' is missing."),
    ],
    ids=["to-completed", "to-canceled", "to-scheduled", "unknown-state", "no-txn", "empty-txn", "no-state"],
)
def test_state_changes_refused_on_a_scheduled_workitem_are_400_and_leave_it_scheduled(
    server, transaction, state, message
):
    uid = created(server)
    response = change_state(server, uid, generate_uid() if transaction == "new" else transaction, state)
    assert response.status_code == 400
    assert is_json_string(response, message)
    assert state_of(server, uid) == "SCHEDULED"


def test_a_claimed_workitem_refuses_a_second_claim_c302_and_a_stranger_c301(server):
    uid = created(server)
    owner = generate_uid()
    assert change_state(server, uid, owner, "IN PROGRESS").status_code == 200
    again = change_state(server, uid, generate_uid(), "IN PROGRESS")
    assert is_json_string(again, "The workitem instance can not transition to 'IN PROGRESS' state: C302.")
    assert update(server, uid, completion(), owner).status_code == 200
    stranger = change_state(server, uid, generate_uid(), "COMPLETED")
    assert stranger.status_code == 400
    assert is_json_string(stranger, "The workitem instance can not transition to 'COMPLETED' state: C301.")
    assert state_of(server, uid) == "IN PROGRESS"
    unknown = change_state(server, generate_uid(), owner, "IN PROGRESS")
    assert unknown.status_code == 404
    assert unknown.text == NOT_FOUND


def test_updates_follow_the_transaction_uid_rules_of_each_state(server):
    uid = created(server)
    changes = Dataset()
    changes.ProcedureStepLabel = "Renamed"
    before = retrieve(server, uid)["00404010"]["Value"][0]
    with_transaction = update(server, uid, changes, generate_uid())
    assert with_transaction.status_code == 400
    assert is_json_string(with_transaction, "Invalid TransactionUID for the specified Workitem Instance UID.")
    assert update(server, uid, changes).status_code == 200
    found = retrieve(server, uid)
    assert found["00741204"]["Value"] == ["Renamed"]
    assert found["00404010"]["Value"][0] > before
    owner = generate_uid()
    assert change_state(server, uid, owner, "IN PROGRESS").status_code == 200
    assert is_json_string(update(server, uid, changes), "The transaction UID is missing.")
    wrong = update(server, uid, changes, generate_uid())
    assert is_json_string(wrong, "Invalid TransactionUID for the specified Workitem Instance UID.")
    changes.ProcedureStepLabel = "Owner's"
    assert update(server, uid, changes, owner).status_code == 200
    assert retrieve(server, uid)["00741204"]["Value"] == ["Owner's"]


def test_an_update_replaces_a_sequence_whole_and_keeps_other_attributes(server):
    uid = created(server, ScheduledStationNameCodeSequence=[code("A"), code("B")])
    changes = Dataset()
    changes.ScheduledStationNameCodeSequence = [code("C")]
    assert update(server, uid, changes).status_code == 200
    found = retrieve(server, uid)
    assert [item["00080100"]["Value"][0] for item in found["00404025"]["Value"]] == ["C"]
    assert found["00741204"]["Value"] == ["Chest review"]


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        (
            "ProcedureStepState",
            "COMPLETED",
            "Procedure step state is present in the dataset provided to be updated which is not allowed.",
        ),
        ("PatientName", "Other^Name", "The attribute with tag '(0010,0010)' cannot be present."),
        ("SOPInstanceUID", "1.2.3", "The attribute with tag '(0008,0018)' cannot be present."),
        ("PatientID", "P2", "The attribute with tag '(0010,0020)' cannot be present."),
    ],
)
def test_an_update_carrying_an_attribute_n_set_may_not_carry_is_400_and_changes_nothing(
    server, keyword, value, message
):
    uid = created(server)
    changes = Dataset()
    setattr(changes, keyword, value)
    changes.ProcedureStepLabel = "Must not apply"
    response = update(server, uid, changes)
    assert response.status_code == 400
    assert is_json_string(response, message)
    found = retrieve(server, uid)
    assert found["00741204"]["Value"] == ["Chest review"]
    assert found["00741000"]["Value"] == ["SCHEDULED"]


def test_an_update_of_an_unknown_workitem_is_404_as_a_json_string(server):
    response = update(server, generate_uid(), Dataset())
    assert response.status_code == 404
    assert response.text == NOT_FOUND


def test_workitem_routes_answer_415_and_406_as_azure(server):
    uid = created(server)
    plain = {"Accept": DICOM_JSON, "Content-Type": "application/json"}
    assert (
        httpx.post(f"{server.url}/v2/workitems?{generate_uid()}", content=body(workitem()), headers=plain).status_code
        == 415
    )
    assert httpx.post(f"{server.url}/v2/workitems/{uid}", content=b"[{}]", headers=plain).status_code == 415
    assert httpx.put(f"{server.url}/v2/workitems/{uid}/state", content=b"[{}]", headers=plain).status_code == 415
    assert (
        httpx.post(f"{server.url}/v2/workitems/{uid}/cancelrequest", content=b"[{}]", headers=plain).status_code == 415
    )
    not_acceptable = {"Accept": "application/dicom", "Content-Type": DICOM_JSON}
    response = httpx.post(
        f"{server.url}/v2/workitems?{generate_uid()}", content=body(workitem()), headers=not_acceptable
    )
    assert response.status_code == 406
    assert response.content == b""
    assert httpx.get(f"{server.url}/v2/workitems/{uid}", headers={"Accept": "application/dicom"}).status_code == 406
    assert httpx.get(f"{server.url}/v2/workitems", headers={"Accept": "image/png"}).status_code == 406


def test_subscriptions_have_no_route(server):
    url = f"{server.url}/v2/workitems/1.2.840.10008.5.1.4.34.5/subscribers/AE1"
    assert httpx.post(url, headers=HEADERS).status_code == 404


def _without_empty_values(dataset: dict) -> dict:
    """``dataset`` as pydicom writes it once its empty ``"Value": []`` entries are dropped."""
    trimmed = {}
    for key, attribute in dataset.items():
        attribute = dict(attribute)
        if attribute.get("Value") == []:
            del attribute["Value"]
        elif attribute["vr"] == "SQ" and "Value" in attribute:
            attribute["Value"] = [_without_empty_values(item) for item in attribute["Value"]]
        trimmed[key] = attribute
    return trimmed


def test_attributes_without_a_value_member_count_as_present_and_empty(server):
    uid = generate_uid()
    content = json.dumps([_without_empty_values(workitem().to_json_dict())]).encode()
    assert b'"Value": []' not in content
    response = httpx.post(f"{server.url}/v2/workitems?{uid}", content=content, headers=HEADERS)
    assert response.status_code == 201, response.text
    assert retrieve(server, uid)["00404021"] == {"vr": "SQ"}


def test_v1_serves_workitems_under_its_own_version_segment(server):
    uid = generate_uid()
    response = httpx.post(f"{server.url}/v1/workitems?{uid}", content=body(workitem()), headers=HEADERS)
    assert response.status_code == 201
    assert response.headers["Location"] == f"{server.url}/v1/workitems/{uid}"
    assert httpx.get(response.headers["Location"], headers={"Accept": DICOM_JSON}).status_code == 200
