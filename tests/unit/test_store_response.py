"""The STOW-RS response dataset (spec §3.4): elements, VRs, and when each appears."""

from __future__ import annotations

import json

import pytest
from pydicom import Dataset
from pydicom.datadict import dictionary_VR as dictionary_vr

from azure_dicom_emulator.dicom.store_response import (
    DATASET_DOES_NOT_MATCH_SOP_CLASS,
    DATASET_HAS_VALIDATION_WARNINGS,
    PENDING_INSTANCE,
    PROCESSING_FAILURE,
    SOP_INSTANCE_ALREADY_EXISTS,
    VALIDATION_FAILURE,
    FailedInstance,
    StoredInstance,
    store_response,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY_URL = "http://localhost:8080/v2/studies/1.2.3"
FAILED_ATTRIBUTES = "00741048"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
RETRIEVE_URL_TAG = "00081190"
SOP_CLASS = "00081150"
SOP_INSTANCE = "00081155"


def stored(sop_uid: str = "1.2.3.4", **kwargs) -> StoredInstance:
    url = f"{STUDY_URL}/series/1.2.3.9/instances/{sop_uid}"
    return StoredInstance(sop_class_uid=CT, sop_instance_uid=sop_uid, retrieve_url=url, **kwargs)


def loads(dataset: dict) -> Dataset:
    """The response as pydicom reads it from its JSON text."""
    return Dataset.from_json(json.dumps(dataset))


def test_codes_have_azure_values():
    assert PROCESSING_FAILURE == 0x0110
    assert VALIDATION_FAILURE == 0xA900
    assert SOP_INSTANCE_ALREADY_EXISTS == 0xB00E
    assert PENDING_INSTANCE == 0xB00F
    assert DATASET_DOES_NOT_MATCH_SOP_CLASS == 0xB007
    assert DATASET_HAS_VALIDATION_WARNINGS == 1


def test_v2_success_has_referenced_sop_with_empty_failed_attributes():
    instance = stored()
    dataset = store_response(None, [instance], [], with_failed_attributes=True)
    assert dataset == {
        REFERENCED_SOP_SEQUENCE: {
            "vr": "SQ",
            "Value": [
                {
                    SOP_CLASS: {"vr": "UI", "Value": [CT]},
                    SOP_INSTANCE: {"vr": "UI", "Value": ["1.2.3.4"]},
                    RETRIEVE_URL_TAG: {"vr": "UR", "Value": [instance.retrieve_url]},
                    FAILED_ATTRIBUTES: {"vr": "SQ"},
                }
            ],
        }
    }
    ds = loads(dataset)
    (item,) = ds.ReferencedSOPSequence
    assert item.ReferencedSOPClassUID == CT
    assert item.ReferencedSOPInstanceUID == "1.2.3.4"
    assert item.RetrieveURL == instance.retrieve_url
    assert item.FailedAttributesSequence == []
    assert "RetrieveURL" not in ds
    assert "FailedSOPSequence" not in ds


def test_v1_success_has_no_failed_attributes_sequence():
    dataset = store_response(None, [stored(messages=["ignored in v1"])], [], with_failed_attributes=False)
    (item,) = dataset[REFERENCED_SOP_SEQUENCE]["Value"]
    assert set(item) == {SOP_CLASS, SOP_INSTANCE, RETRIEVE_URL_TAG}
    assert "FailedAttributesSequence" not in loads(dataset).ReferencedSOPSequence[0]


@pytest.mark.filterwarnings("ignore:The value length:UserWarning")  # Azure's messages exceed LO's 64 characters
def test_v2_success_with_warnings_lists_messages_and_warning_reason():
    messages = [
        'DICOM100: (0008,0020) - Content "NotAValidStudyDate" does not validate VR DA: one of the date values does '
        "not match the pattern YYYYMMDD",
        "DICOM100: (0010,0020) - The required tag '(0010,0020)' is missing.",
    ]
    instance = stored(warning_reason=DATASET_HAS_VALIDATION_WARNINGS, messages=messages)
    dataset = store_response(None, [instance], [], with_failed_attributes=True)
    (item,) = dataset[REFERENCED_SOP_SEQUENCE]["Value"]
    assert item[WARNING_REASON] == {"vr": "US", "Value": [1]}
    assert item[FAILED_ATTRIBUTES] == {
        "vr": "SQ",
        "Value": [{"00000902": {"vr": "LO", "Value": [message]}} for message in messages],
    }
    (loaded,) = loads(dataset).ReferencedSOPSequence
    assert loaded.WarningReason == 1
    assert [entry.ErrorComment for entry in loaded.FailedAttributesSequence] == messages


def test_implicit_vr_warning_without_messages():
    instance = stored(warning_reason=DATASET_DOES_NOT_MATCH_SOP_CLASS)
    (item,) = store_response(None, [instance], [], with_failed_attributes=True)[REFERENCED_SOP_SEQUENCE]["Value"]
    assert item[WARNING_REASON] == {"vr": "US", "Value": [45063]}
    assert item[FAILED_ATTRIBUTES] == {"vr": "SQ"}


def test_failure_without_uids_has_only_the_reason():
    dataset = store_response(None, [], [FailedInstance(failure_reason=VALIDATION_FAILURE)], with_failed_attributes=True)
    assert dataset == {FAILED_SOP_SEQUENCE: {"vr": "SQ", "Value": [{FAILURE_REASON: {"vr": "US", "Value": [43264]}}]}}
    (item,) = loads(dataset).FailedSOPSequence
    assert item.FailureReason == 43264
    assert "ReferencedSOPInstanceUID" not in item


def test_failure_with_uids_and_validation_messages():
    failure = FailedInstance(
        failure_reason=VALIDATION_FAILURE,
        sop_class_uid=CT,
        sop_instance_uid="1.2.3.5",
        messages=["DICOM100: (0008,0060) - bad"],
    )
    dataset = store_response(None, [], [failure], with_failed_attributes=True)
    (item,) = dataset[FAILED_SOP_SEQUENCE]["Value"]
    assert item == {
        SOP_CLASS: {"vr": "UI", "Value": [CT]},
        SOP_INSTANCE: {"vr": "UI", "Value": ["1.2.3.5"]},
        FAILURE_REASON: {"vr": "US", "Value": [43264]},
        FAILED_ATTRIBUTES: {
            "vr": "SQ",
            "Value": [{"00000902": {"vr": "LO", "Value": ["DICOM100: (0008,0060) - bad"]}}],
        },
    }
    (loaded,) = loads(dataset).FailedSOPSequence
    assert loaded.ReferencedSOPClassUID == CT
    assert loaded.ReferencedSOPInstanceUID == "1.2.3.5"
    assert loaded.FailedAttributesSequence[0].ErrorComment == "DICOM100: (0008,0060) - bad"


@pytest.mark.parametrize("with_failed_attributes", [True, False])
def test_failure_not_from_validation_has_no_failed_attributes(with_failed_attributes):
    failure = FailedInstance(failure_reason=SOP_INSTANCE_ALREADY_EXISTS, sop_class_uid=CT, sop_instance_uid="1.2.3.6")
    dataset = store_response(None, [], [failure], with_failed_attributes=with_failed_attributes)
    (item,) = dataset[FAILED_SOP_SEQUENCE]["Value"]
    assert set(item) == {SOP_CLASS, SOP_INSTANCE, FAILURE_REASON}
    assert item[FAILURE_REASON] == {"vr": "US", "Value": [45070]}


def test_validation_failure_with_empty_message_list_has_empty_sequence():
    failure = FailedInstance(failure_reason=VALIDATION_FAILURE, sop_instance_uid="1.2.3.7", messages=[])
    (item,) = store_response(None, [], [failure], with_failed_attributes=True)[FAILED_SOP_SEQUENCE]["Value"]
    assert item[FAILED_ATTRIBUTES] == {"vr": "SQ"}
    assert SOP_CLASS not in item


def test_failure_with_only_a_sop_instance_uid():
    failure = FailedInstance(failure_reason=PROCESSING_FAILURE, sop_instance_uid="1.2.3.8")
    (item,) = store_response(None, [], [failure], with_failed_attributes=True)[FAILED_SOP_SEQUENCE]["Value"]
    assert item == {SOP_INSTANCE: {"vr": "UI", "Value": ["1.2.3.8"]}, FAILURE_REASON: {"vr": "US", "Value": [272]}}


def test_study_retrieve_url_when_study_given_and_something_stored():
    dataset = store_response(STUDY_URL, [stored()], [FailedInstance(failure_reason=272)], with_failed_attributes=True)
    assert dataset[RETRIEVE_URL_TAG] == {"vr": "UR", "Value": [STUDY_URL]}
    assert loads(dataset).RetrieveURL == STUDY_URL


def test_no_study_retrieve_url_when_nothing_stored():
    dataset = store_response(STUDY_URL, [], [FailedInstance(failure_reason=272)], with_failed_attributes=True)
    assert set(dataset) == {FAILED_SOP_SEQUENCE}


def test_no_study_retrieve_url_without_study_in_request():
    assert RETRIEVE_URL_TAG not in store_response(None, [stored()], [], with_failed_attributes=True)


def test_nothing_stored_or_failed_gives_empty_dataset():
    assert store_response(STUDY_URL, [], [], with_failed_attributes=True) == {}


def test_mixed_response_keeps_request_order_in_each_sequence():
    stored_items = [stored("1.2.3.10"), stored("1.2.3.11", warning_reason=DATASET_DOES_NOT_MATCH_SOP_CLASS)]
    failed_items = [
        FailedInstance(failure_reason=SOP_INSTANCE_ALREADY_EXISTS, sop_class_uid=CT, sop_instance_uid="1.2.3.12"),
        FailedInstance(failure_reason=VALIDATION_FAILURE),
    ]
    dataset = store_response(STUDY_URL, stored_items, failed_items, with_failed_attributes=True)
    assert set(dataset) == {RETRIEVE_URL_TAG, FAILED_SOP_SEQUENCE, REFERENCED_SOP_SEQUENCE}
    ds = loads(dataset)
    assert [item.ReferencedSOPInstanceUID for item in ds.ReferencedSOPSequence] == ["1.2.3.10", "1.2.3.11"]
    assert ["WarningReason" in item for item in ds.ReferencedSOPSequence] == [False, True]
    assert [item.FailureReason for item in ds.FailedSOPSequence] == [45070, 43264]
    assert all(item["FailedAttributesSequence"].VR == "SQ" for item in ds.ReferencedSOPSequence)


def test_vrs_match_the_dictionary():
    """Every element carries its standard VR, so that pydicom reads it as that VR."""
    failure = FailedInstance(
        failure_reason=VALIDATION_FAILURE, sop_class_uid=CT, sop_instance_uid="1.2", messages=["m"]
    )
    dataset = store_response(STUDY_URL, [stored(warning_reason=1, messages=["m"])], [failure], True)
    ds = loads(dataset)
    for element in ds.iterall():
        assert dictionary_vr(element.tag) == element.VR, element


def test_response_is_plain_json():
    """The dataset is made of JSON types only (no pydicom or dataclass objects)."""
    failure = FailedInstance(failure_reason=VALIDATION_FAILURE, messages=["m"], sop_instance_uid="1.2")
    dataset = store_response(STUDY_URL, [stored(messages=["a"])], [failure], True)
    assert json.loads(json.dumps(dataset)) == dataset
