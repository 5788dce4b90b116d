"""The events themselves (spec §12): Event Grid's schema, and the same event in the CloudEvents 1.0 schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from ...storage.index import ChangeAction
from ..timestamps import utc_text

EVENT_TYPES = {
    ChangeAction.CREATE: "Microsoft.HealthcareApis.DicomImageCreated",
    ChangeAction.DELETE: "Microsoft.HealthcareApis.DicomImageDeleted",
    ChangeAction.UPDATE: "Microsoft.HealthcareApis.DicomImageUpdated",
}


@dataclass(frozen=True)
class Source:
    """Where events come from: the topic, the service host in their subject, and whether partitions show."""

    topic: str
    service_host: str
    partitions_enabled: bool


def event_grid_event(
    source: Source,
    action: ChangeAction,
    partition_name: str,
    instance_id: tuple[str, str, str],
    sequence: int,
    time: datetime,
) -> dict:
    """The Event Grid event of one change-feed entry; ``data.sequenceNumber`` is the entry's sequence.

    The subject names the instance under ``/v1/`` as Azure's do, with the partition segment when
    data partitions are enabled.
    """
    study_uid, series_uid, sop_uid = instance_id
    partition = f"partitions/{partition_name}/" if source.partitions_enabled else ""
    return {
        "id": str(uuid.uuid4()),
        "topic": source.topic,
        "subject": f"{source.service_host}/v1/{partition}studies/{study_uid}/series/{series_uid}/instances/{sop_uid}",
        "data": {
            "partitionName": partition_name,
            "imageStudyInstanceUid": study_uid,
            "imageSeriesInstanceUid": series_uid,
            "imageSopInstanceUid": sop_uid,
            "serviceHostName": source.service_host,
            "sequenceNumber": sequence,
        },
        "eventType": EVENT_TYPES[action],
        "dataVersion": "1",
        "metadataVersion": "1",
        "eventTime": utc_text(time),
    }


def cloud_event(event: dict) -> dict:
    """The Event Grid event ``event`` in the CloudEvents 1.0 schema (lowercase ``specversion``)."""
    return {
        "id": event["id"],
        "source": event["topic"],
        "specversion": "1.0",
        "type": event["eventType"],
        "subject": event["subject"],
        "time": event["eventTime"],
        "data": event["data"],
    }


def in_schema(event: dict, schema: str) -> dict:
    """``event`` as a sink with event schema ``schema`` (``eventgrid`` or ``cloudevents``) receives it."""
    return cloud_event(event) if schema == "cloudevents" else event
