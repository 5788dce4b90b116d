"""The emulator's settings: one object, read once from arguments and ``DICOM_EMULATOR_*`` variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .event_sinks import SINKS, SinkConfig, check_unique_names
from .faults import FaultRule

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024**3
# Azure-shaped defaults for the events' topic and the service host in their subject (spec §12).
DEFAULT_EVENTS_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dicom-emulator"
    "/providers/Microsoft.HealthcareApis/workspaces/emulator"
)
DEFAULT_EVENTS_SERVICE_HOST = "emulator-dicom.dicom.azurehealthcareapis.com"


class Settings(BaseSettings):
    """Every setting of the emulator; each is also read from ``DICOM_EMULATOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="DICOM_EMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str | None = None
    workers: int = 1
    # Processes for CPU work (parsing uploads, transcoding); 0 runs it in threads; None: one per core, at most 4.
    cpu_workers: int | None = None
    partitions_enabled: bool = False
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    cors_origins: list[str] = ["*"]
    log_level: str = "info"
    operation_poll_seconds: float = 1.0
    operation_lease_seconds: float = 30.0
    reindex_batch_size: int = 100
    # "strict": rendered images follow Azure's Accept rules; "lenient": also ``?accept=`` and ``*/*``.
    rendered_accept: Literal["strict", "lenient"] = "strict"
    events: list[SinkConfig] = []
    events_file: Path | None = None
    events_topic: str = DEFAULT_EVENTS_TOPIC
    events_service_host: str = DEFAULT_EVENTS_SERVICE_HOST
    events_inspector: bool = True
    events_inspector_capacity: int = Field(10000, ge=1)
    change_feed_enum_case: Literal["pascal", "lower"] = "pascal"
    # Fault injection rules set at start-up (JSON list, as POST /emulator/faults takes).
    faults: list[FaultRule] = []
    # Latest requests kept per server process for GET /emulator/requests.
    request_log_capacity: int = Field(1000, ge=1)
    # A folder of DICOM files ``serve --seed`` stores once the server is ready.
    seed: Path | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("seed")
    @classmethod
    def _seed_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"there is no file or folder {value}")
        return value

    @model_validator(mode="after")
    def _read_events_file(self) -> Settings:
        if self.events_file is not None:
            try:
                text = self.events_file.read_text()
            except OSError as exc:
                raise ValueError(f"events_file: cannot read {self.events_file}: {exc.strerror}") from exc
            try:
                self.events = [*self.events, *SINKS.validate_json(text)]
            except ValidationError as exc:
                raise ValueError(f"events_file {self.events_file}: {describe_errors(exc)}") from exc
        check_unique_names(self.events)
        return self

    @property
    def events_enabled(self) -> bool:
        """Whether changes produce events: some sink or the inspector takes them."""
        return bool(self.events) or self.events_inspector

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: the configured one, else SQLite at ``<data-dir>/index.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.db').resolve()}"

    @property
    def effective_cpu_workers(self) -> int:
        """CPU worker processes of each pool: as configured, else one per core, at most 4 (0: threads)."""
        if self.cpu_workers is not None:
            return self.cpu_workers
        return min(os.cpu_count() or 1, 4)

    @property
    def blob_dir(self) -> Path:
        """Where instance files are kept."""
        return self.data_dir / "blobs"


def describe_errors(exc: ValidationError) -> str:
    """The errors of ``exc`` as ``[index].field: message`` phrases."""
    phrases = []
    for error in exc.errors():
        location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        phrases.append(f"{location.lstrip('.') or 'value'}: {error['msg']}")
    return "; ".join(phrases)
