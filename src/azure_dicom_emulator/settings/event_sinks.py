"""How sinks are configured: ``DICOM_EMULATOR_EVENTS`` (a JSON list) or the file named by ``events_file``.

Each sink is one JSON object with a ``type``; anything unknown or malformed is refused with the
name of the offending field, so a wrong configuration stops start-up instead of losing events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, TypeAdapter

SINK_NAME = r"^[A-Za-z0-9_.:/@-]{1,200}$"
# Azure Storage queue names: 3-63 lowercase letters, digits and single hyphens, not at either end.
QUEUE_NAME = r"^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$"


class _Sink(BaseModel):
    """What every sink has: a name for its cursor, the event schema and the retry policy."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(None, pattern=SINK_NAME)
    event_schema: Literal["eventgrid", "cloudevents"] = Field("eventgrid", alias="schema")
    max_attempts: int = Field(30, ge=1, le=1000)
    retry_initial_seconds: float = Field(1.0, gt=0, le=3600)
    retry_max_seconds: float = Field(60.0, gt=0, le=86400)

    @property
    def sink_name(self) -> str:
        """The configured name, else one derived from the sink's target, so it survives restarts."""
        return self.name or f"{self.type}:{self.target}"[:200]  # type: ignore[attr-defined]


class WebhookSink(_Sink):
    """Events POSTed to an HTTP endpoint, as Event Grid arrays or CloudEvents."""

    type: Literal["webhook"]
    url: HttpUrl
    max_events_per_batch: int = Field(1, ge=1, le=5000)
    timeout_seconds: float = Field(30.0, gt=0, le=600)

    @property
    def target(self) -> str:
        return str(self.url)


class StorageQueueSink(_Sink):
    """Events sent as base64 messages to an Azure Storage queue (Azurite or Azure)."""

    type: Literal["azure-storage-queue"]
    connection_string: str = Field(min_length=1)
    queue_name: str = Field(pattern=QUEUE_NAME)
    max_concurrent_messages: int = Field(16, ge=1, le=256)

    @property
    def target(self) -> str:
        return self.queue_name


class FileSink(_Sink):
    """Events appended to a file as JSON lines."""

    type: Literal["file"]
    path: Path

    @property
    def target(self) -> str:
        return str(self.path)


SinkConfig = Annotated[WebhookSink | StorageQueueSink | FileSink, Field(discriminator="type")]
SINKS = TypeAdapter(list[SinkConfig])


def check_unique_names(sinks: list[SinkConfig]) -> list[SinkConfig]:
    """``sinks`` unchanged; raises ValueError naming a sink name that two sinks share."""
    seen: set[str] = set()
    for sink in sinks:
        if sink.sink_name in seen:
            raise ValueError(f"events: two sinks are named '{sink.sink_name}'; give each a distinct 'name'")
        seen.add(sink.sink_name)
    return sinks
