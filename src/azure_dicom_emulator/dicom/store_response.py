"""The DICOM JSON dataset a STOW-RS request answers with (PS3.18 §10.5.3, Azure's codes)."""

from __future__ import annotations

from dataclasses import dataclass, field

PROCESSING_FAILURE = 272  # 0x0110
VALIDATION_FAILURE = 43264  # 0xA900
SOP_INSTANCE_ALREADY_EXISTS = 45070  # 0xB00E
PENDING_INSTANCE = 45071  # 0xB00F
DATASET_DOES_NOT_MATCH_SOP_CLASS = 45063  # 0xB007, a warning
DATASET_HAS_VALIDATION_WARNINGS = 1  # a warning


@dataclass
class StoredInstance:
    """One instance the request stored."""

    sop_class_uid: str
    sop_instance_uid: str
    retrieve_url: str
    warning_reason: int | None = None
    messages: list[str] = field(default_factory=list)


@dataclass
class FailedInstance:
    """One instance the request could not store."""

    failure_reason: int
    sop_class_uid: str | None = None
    sop_instance_uid: str | None = None
    messages: list[str] | None = None  # set when the failure came from validation


def store_response(
    study_url: str | None,
    stored: list[StoredInstance],
    failed: list[FailedInstance],
    with_failed_attributes: bool,
) -> dict:
    """The response dataset; ``with_failed_attributes`` adds the (possibly empty) sequence to successes (v2)."""
    dataset: dict[str, dict] = {}
    if study_url and stored:
        dataset["00081190"] = {"vr": "UR", "Value": [study_url]}
    if failed:
        dataset["00081198"] = {"vr": "SQ", "Value": [_failed_item(item) for item in failed]}
    if stored:
        dataset["00081199"] = {
            "vr": "SQ",
            "Value": [_stored_item(item, with_failed_attributes) for item in stored],
        }
    return dataset


def _stored_item(item: StoredInstance, with_failed_attributes: bool) -> dict:
    result = {
        "00081150": _uid(item.sop_class_uid),
        "00081155": _uid(item.sop_instance_uid),
        "00081190": {"vr": "UR", "Value": [item.retrieve_url]},
    }
    if item.warning_reason is not None:
        result["00081196"] = {"vr": "US", "Value": [item.warning_reason]}
    if with_failed_attributes:
        result["00741048"] = failed_attributes(item.messages)
    return result


def _failed_item(item: FailedInstance) -> dict:
    result: dict[str, dict] = {}
    if item.sop_class_uid:
        result["00081150"] = _uid(item.sop_class_uid)
    if item.sop_instance_uid:
        result["00081155"] = _uid(item.sop_instance_uid)
    result["00081197"] = {"vr": "US", "Value": [item.failure_reason]}
    if item.messages is not None:
        result["00741048"] = failed_attributes(item.messages)
    return result


def failed_attributes(messages: list[str]) -> dict:
    """A FailedAttributesSequence (0074,1048) holding one item per message, as ErrorComment (0000,0902)."""
    if not messages:
        return {"vr": "SQ"}
    return {"vr": "SQ", "Value": [{"00000902": {"vr": "LO", "Value": [message]}} for message in messages]}


def _uid(value: str) -> dict:
    return {"vr": "UI", "Value": [value]}
