"""The emulator's settings: one object, read once from arguments and ``DICOM_EMULATOR_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_REQUEST_BYTES = 4 * 1024**3


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

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: the configured one, else SQLite at ``<data-dir>/index.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'index.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        """Where instance files are kept."""
        return self.data_dir / "blobs"
