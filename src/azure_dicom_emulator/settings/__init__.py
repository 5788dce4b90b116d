"""The emulator's settings: one object, read once from arguments and ``DICOM_EMULATOR_*`` variables."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .event_sinks import SINKS, SinkConfig, check_unique_names
from .faults import FaultRule

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024**3
# Azure-shaped defaults for the events' topic and the service host in their subject (spec §12).
DEFAULT_EVENTS_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dicom-emulator"
    "/providers/Microsoft.HealthcareApis/workspaces/emulator"
)
DEFAULT_EVENTS_SERVICE_HOST = "emulator-dicom.dicom.azurehealthcareapis.com"
# The newest Azure Blob Storage API version the pinned Azurite (package-lock.json) accepts.
DEFAULT_BLOB_API_VERSION = "2025-11-05"
DEFAULT_AUTH_AUDIENCE = "https://dicom.healthcareapis.azure.com"
MAX_AUTH_CLOCK_SKEW_SECONDS = 300

# A list read from a comma-separated variable (a JSON list is accepted too).
CommaSeparated = Annotated[list[str], NoDecode]


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
    cors_origins: CommaSeparated = ["*"]
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
    # Connection strings for export destinations given as a container URL, by account or container URL prefix.
    export_credentials: dict[str, str] = {}
    # Azure's rejections of account keys, SAS and anonymous access in export destinations.
    export_strict: bool = False
    export_batch_size: int = Field(100, ge=1)
    blob_api_version: str = DEFAULT_BLOB_API_VERSION
    # Where instance files live. Unset: under the data dir; file:///path: a shared file system; an http(s)
    # container URL: Azure Blob Storage.
    blob_url: str | None = None
    # Credentials of the Azure Blob store (``UseDevelopmentStorage=true`` for Azurite); alone, it names the
    # account and ``blob_container`` the container.
    blob_connection_string: str | None = None
    blob_container: str = "dicomwebcontainer"
    # Seconds each call to the Azure Blob store may take before the request gets 503.
    blob_timeout_seconds: float = Field(10.0, gt=0)
    # How old an unnamed blob must be before the start-up sweep removes it: longer than the slowest STOW
    # request takes, since each instance's blob is published before the request's rows commit.
    orphan_grace_seconds: float = Field(900.0, ge=0)
    auth_enabled: bool = False
    # Expected ``iss`` values; none: the emulator's own issuer under /emulator/auth/.
    auth_issuer: CommaSeparated = []
    auth_audience: CommaSeparated = [DEFAULT_AUTH_AUDIENCE]
    auth_jwks_url: str | None = None
    auth_clock_skew_seconds: int = Field(60, ge=0, le=MAX_AUTH_CLOCK_SKEW_SECONDS)
    # The roles of the tokens the managed-identity endpoint issues.
    auth_managed_identity_role: Literal["owner", "reader"] = "owner"
    # Fault injection rules set at start-up (JSON list, as POST /emulator/faults takes).
    faults: list[FaultRule] = []
    # Latest requests kept per server process for GET /emulator/requests.
    request_log_capacity: int = Field(1000, ge=1)
    # A folder of DICOM files ``serve --seed`` stores once the server is ready.
    seed: Path | None = None

    @field_validator("cors_origins", "auth_issuer", "auth_audience", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("auth_audience")
    @classmethod
    def _some_audience(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one audience is needed")
        return value

    @field_validator("seed")
    @classmethod
    def _seed_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"there is no file or folder {value}")
        return value

    @field_validator("blob_url")
    @classmethod
    def _blob_url_is_a_store(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ValueError(f"DICOM_EMULATOR_BLOB_URL (--blob-url) {value!r}: write file:///absolute/path")
            return value
        container = parts.path.strip("/")
        if parts.scheme not in ("http", "https") or not parts.hostname or not container:
            raise ValueError(
                f"DICOM_EMULATOR_BLOB_URL (--blob-url) {value!r}: expected file:///path or an http(s) container URL "
                "such as https://account.blob.core.windows.net/container"
            )
        return value

    @field_validator("blob_connection_string")
    @classmethod
    def _connection_string_has_fields(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        fields = [field.strip() for field in value.split(";") if field.strip()]
        names = {field.split("=", 1)[0].strip().lower() for field in fields if "=" in field}
        credentials = {"usedevelopmentstorage", "accountkey", "sharedaccesssignature"}
        if any("=" not in field for field in fields) or not names & credentials:
            raise ValueError(
                "DICOM_EMULATOR_BLOB_CONNECTION_STRING: expected Name=value fields separated by ';' with a "
                "credential (UseDevelopmentStorage=true, AccountName=...;AccountKey=..., or SharedAccessSignature=...)"
            )
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

    @model_validator(mode="after")
    def _check_auth(self) -> Settings:
        if self.auth_jwks_url and not self.auth_issuer:
            raise ValueError("auth_jwks_url needs auth_issuer: the tokens' expected issuer")
        # Keys come from the JWKS URL, else from each issuer's discovery document.
        for url in [self.auth_jwks_url] if self.auth_jwks_url else self.auth_issuer:
            if not is_https_or_loopback(url):
                raise ValueError(f"{url}: keys are fetched over https only (plain http on loopback)")
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
        """Where instance files are kept in a directory: the ``file://`` blob URL's, else the data dir's."""
        if self.blob_url and self.blob_url.startswith("file:"):
            return Path(unquote(urlsplit(self.blob_url).path))
        return self.data_dir / "blobs"

    @property
    def blobs_in_azure(self) -> bool:
        """Whether instance files live in Azure Blob Storage (an http(s) URL or a connection string alone)."""
        if self.blob_url:
            return not self.blob_url.startswith("file:")
        return self.blob_connection_string is not None

    @property
    def blob_client_arguments(self) -> dict:
        """What a client of the Azure Blob store is built from (``storage.azure_blobs.container_client``)."""
        return {
            "url": self.blob_url,
            "connection_string": self.blob_connection_string,
            "container_name": self.blob_container,
            "api_version": self.blob_api_version,
            "timeout_seconds": self.blob_timeout_seconds,
        }


def is_https_or_loopback(url: str) -> bool:
    """Whether ``url`` is an https URL, or a plain http one to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def describe_errors(exc: ValidationError) -> str:
    """The errors of ``exc`` as ``[index].field: message`` phrases."""
    phrases = []
    for error in exc.errors():
        location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
        phrases.append(f"{location.lstrip('.') or 'value'}: {error['msg']}")
    return "; ".join(phrases)
