"""The events' shapes (spec §12): Event Grid and CloudEvents, as Azure's SDKs parse them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridEvent

from azure_dicom_emulator.features.events.envelope import EVENT_TYPES, Source, cloud_event, event_grid_event
from azure_dicom_emulator.storage.index import ChangeAction

TOPIC = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.HealthcareApis/workspaces/ws"
IDS = ("1.2.3", "1.2.3.4", "1.2.3.4.5")
TIME = datetime(2024, 1, 18, 10, 0, 0, 123456, tzinfo=UTC)


def event(action=ChangeAction.CREATE, partitions=False, partition="Microsoft.Default"):
    return event_grid_event(
        Source(TOPIC, "ws-dicom.dicom.azurehealthcareapis.com", partitions), action, partition, IDS, 42, TIME
    )


@pytest.mark.parametrize("action", list(ChangeAction))
def test_event_grid_event_parses_with_the_sdk_and_carries_the_sequence(action):
    parsed = EventGridEvent.from_dict(event(action))
    assert parsed.event_type == EVENT_TYPES[action]
    assert parsed.topic == TOPIC
    assert parsed.data_version == "1"
    assert parsed.data == {
        "partitionName": "Microsoft.Default",
        "imageStudyInstanceUid": "1.2.3",
        "imageSeriesInstanceUid": "1.2.3.4",
        "imageSopInstanceUid": "1.2.3.4.5",
        "serviceHostName": "ws-dicom.dicom.azurehealthcareapis.com",
        "sequenceNumber": 42,
    }
    assert parsed.event_time == TIME


def test_event_types_are_azures():
    assert {action: EVENT_TYPES[action] for action in ChangeAction} == {
        ChangeAction.CREATE: "Microsoft.HealthcareApis.DicomImageCreated",
        ChangeAction.DELETE: "Microsoft.HealthcareApis.DicomImageDeleted",
        ChangeAction.UPDATE: "Microsoft.HealthcareApis.DicomImageUpdated",
    }


def test_subject_has_no_scheme_and_shows_the_partition_only_when_partitions_are_enabled():
    plain = event()["subject"]
    assert plain == "ws-dicom.dicom.azurehealthcareapis.com/v1/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"
    partitioned = event(partitions=True, partition="north")
    assert partitioned["subject"] == (
        "ws-dicom.dicom.azurehealthcareapis.com/v1/partitions/north/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5"
    )
    assert partitioned["data"]["partitionName"] == "north"


def test_each_event_has_its_own_id_and_a_utc_time_with_z():
    first, second = event(), event()
    assert first["id"] != second["id"]
    assert first["eventTime"] == "2024-01-18T10:00:00.123456Z"


def test_cloud_event_is_the_same_event_in_cloudevents_1_0_with_lowercase_specversion():
    original = event(ChangeAction.DELETE)
    shaped = cloud_event(original)
    assert shaped["specversion"] == "1.0" and "specVersion" not in shaped
    parsed = CloudEvent.from_dict(shaped)
    assert parsed.id == original["id"]
    assert parsed.source == TOPIC
    assert parsed.type == "Microsoft.HealthcareApis.DicomImageDeleted"
    assert parsed.subject == original["subject"]
    assert parsed.time == TIME
    assert parsed.data == original["data"]
