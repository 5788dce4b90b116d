"""What ``/emulator/events`` shows and does: the inspector, the sinks' state, dead letters, manual validation."""

from __future__ import annotations

import json
from datetime import datetime

from ...errors import BadRequest, NotFound
from ...settings.event_sinks import SinkConfig
from ...storage import outbox
from ..services import Services
from ..timestamps import utc_text
from .envelope import in_schema

INSPECTOR_DISABLED = "The events inspector is disabled (DICOM_EMULATOR_EVENTS_INSPECTOR=false)."
SCHEMAS = ("eventgrid", "cloudevents")


def check_schema(schema: str) -> None:
    """Raises BadRequest unless ``schema`` names an event schema."""
    if schema not in SCHEMAS:
        raise BadRequest(f"The schema '{schema}' is not one of {', '.join(SCHEMAS)}.")


async def inspector_events(services: Services, schema: str) -> list[dict]:
    """The events this worker received since it started or the inspector was last cleared, oldest first."""
    check_schema(schema)
    inspector = services.events.inspector
    if inspector is None:
        raise NotFound(INSPECTOR_DISABLED)
    async with services.db.read() as conn:
        cleared_through = await outbox.inspector_cleared_through(conn)
    return [in_schema(event, schema) for event in inspector.after(cleared_through)]


async def clear_inspector(services: Services) -> None:
    """Empties the inspector, in every worker."""
    if services.events.inspector is None:
        raise NotFound(INSPECTOR_DISABLED)
    async with services.db.write() as conn:
        await outbox.clear_inspector(conn)


async def sink_states(services: Services) -> list[dict]:
    """Each configured sink with its cursor, retry state and validation."""
    configs = {config.sink_name: config for config in services.settings.events}
    async with services.db.read() as conn:
        rows = await outbox.sinks(conn, list(configs))
    return [
        {
            "name": row.name,
            "type": configs[row.name].type,
            "schema": configs[row.name].event_schema,
            "deliveredThroughSequence": row.position,
            "failedAttempts": row.attempts,
            "nextAttemptTime": _optional_utc_text(row.next_attempt_at),
            "lastError": row.last_error,
            "validated": _validated(configs[row.name], row.validated_endpoint),
        }
        for row in rows
    ]


async def dead_letters(services: Services, sink_name: str | None, limit: int) -> list[dict]:
    """Dead-lettered events, oldest first, as Event Grid writes them: the event plus why and when."""
    async with services.db.read() as conn:
        rows = await outbox.dead_letters(conn, sink_name, limit)
    return [
        {
            **json.loads(row.body),
            "sink": row.sink,
            "deadLetterReason": row.reason,
            "deliveryAttempts": row.attempts,
            "lastDeliveryOutcome": row.last_error,
            "lastHttpStatusCode": row.last_status,
            "deadLetteredTime": _optional_utc_text(row.dead_lettered_at),
        }
        for row in rows
    ]


async def validate(services: Services, sink_name: str, code: str) -> None:
    """Completes a webhook's manual validation (the ``validationUrl`` of its validation event)."""
    config = next((config for config in services.settings.events if config.sink_name == sink_name), None)
    if config is None or config.type != "webhook":
        raise NotFound(f"There is no webhook sink named '{sink_name}'.")
    async with services.db.write() as conn:
        if not await outbox.validate_manually(conn, sink_name, code, config.target):
            raise BadRequest("The validation code is not the one this sink is waiting for.")


def _validated(config: SinkConfig, validated_endpoint: str | None) -> bool | None:
    """For a webhook, whether its URL passed the handshake; None for sinks without one."""
    return validated_endpoint == config.target if config.type == "webhook" else None


def _optional_utc_text(value: datetime | None) -> str | None:
    return None if value is None else utc_text(value)
