"""The command line: ``azure-dicom-emulator serve``, ``upload`` and ``token``.

Each command imports what it needs when it runs: ``upload`` and ``token`` never pay for the server's libraries.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from .settings import Settings

app = typer.Typer(help="A local emulator of the Azure Health Data Services DICOM service.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """A local emulator of the Azure Health Data Services DICOM service."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8080]")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the index and files live [default: ./data]")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="postgresql+asyncpg://... [default: SQLite in the data dir]")
    ] = None,
    blob_url: Annotated[
        str | None,
        typer.Option(help="file:///path (a shared file system) or an Azure Blob container URL [default: the data dir]"),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes [default: 1]")] = None,
    events_file: Annotated[
        Path | None, typer.Option(help="A JSON file listing event sinks, added to DICOM_EMULATOR_EVENTS")
    ] = None,
    seed: Annotated[Path | None, typer.Option(help="A folder of DICOM files to store once the server is ready")] = None,
) -> None:
    """Serves the DICOMweb API; options override DICOM_EMULATOR_* variables."""
    import uvicorn
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from .settings import Settings

    overrides = {
        "host": host,
        "port": port,
        "data_dir": data_dir,
        "database_url": database_url,
        "blob_url": blob_url,
        "workers": workers,
        "events_file": events_file,
        "seed": seed,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"DICOM_EMULATOR_{name.upper()}"] = str(value)
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        typer.echo(f"Invalid configuration: {exc}", err=True)
        raise typer.Exit(2) from exc
    _reach_blob_store(settings)
    typer.echo(f"Serving on http://{settings.host}:{settings.port} (data in {settings.data_dir.resolve()})")
    if settings.seed is not None:
        from .seeding import seed_in_background

        seed_in_background(settings)
    uvicorn.run(
        "azure_dicom_emulator.entry:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="azure_dicom_emulator.runtime.http_protocol:BufferedPiecesProtocol",
        ws="none",  # no route speaks WebSocket: uvicorn then leaves its WebSocket library unloaded
        access_log=False,
        log_level=settings.log_level,
        timeout_graceful_shutdown=5,
    )


def _reach_blob_store(settings: Settings) -> None:
    """Makes sure the blob store answers (creating an Azure container that does not exist yet) before any
    server process starts: exit 2 for a connection string the library cannot read, 1 for a store out of reach."""
    if not settings.blobs_in_azure:
        try:
            settings.blob_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            typer.echo(f"Cannot use the blob directory {settings.blob_dir}: {exc.strerror}", err=True)
            raise typer.Exit(1) from exc
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from .storage.azure_blobs import MALFORMED, prepare_store

    # In a process of its own: the Azure library loads modules the server processes must import later, or never.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        outcome = pool.submit(prepare_store, settings.blob_client_arguments, settings.data_dir / ".staging").result()
    if outcome is None:
        return
    kind, reason = outcome
    if kind == MALFORMED:
        typer.echo(f"Invalid configuration: DICOM_EMULATOR_BLOB_CONNECTION_STRING: {reason}", err=True)
        raise typer.Exit(2)
    where = settings.blob_url or f"container {settings.blob_container} of the connection string"
    typer.echo(f"Cannot reach the blob store at {where}: {reason}", err=True)
    raise typer.Exit(1)


class Role(StrEnum):
    """The built-in issuer's roles."""

    owner = "owner"
    reader = "reader"


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="DicomDataOwner (owner) or DicomDataReader (reader)")],
    expires_in: Annotated[int, typer.Option(help="Lifetime in seconds, at most a day")] = 3600,
    url: Annotated[str, typer.Option(help="The running emulator")] = "http://127.0.0.1:8080",
) -> None:
    """Prints a bearer token from the running emulator's own issuer."""
    import httpx

    from .runtime.tls import verifies_certificates

    try:
        response = httpx.post(
            url.rstrip("/") + "/emulator/auth/token",
            json={"role": role.value, "expires_in": expires_in},
            timeout=30,
            verify=verifies_certificates(url),
        )
    except httpx.HTTPError as exc:
        typer.echo(f"Cannot reach the emulator at {url}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        typer.echo(f"The emulator refused: {response.status_code} {response.text}", err=True)
        raise typer.Exit(1)
    typer.echo(response.json()["access_token"])


@app.command()
def upload(
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or folders (walked; other files skipped)")],
    url: Annotated[str, typer.Option(help="The service URL with its version")] = "http://127.0.0.1:8080/v2",
    partition: Annotated[str | None, typer.Option(help="The data partition to store in")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Instances per STOW request")] = 50,
    concurrency: Annotated[int, typer.Option(min=1, help="STOW requests at a time")] = 4,
    token: Annotated[
        str | None, typer.Option(help="A bearer token (else azure-identity's, for a service not on loopback)")
    ] = None,
) -> None:
    """Stores the DICOM files under PATHS over STOW-RS; exits with 1 when any instance failed."""
    from .upload.command import upload as run_upload

    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        typer.echo(f"No such file or folder: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    summary = run_upload(paths, url, partition, batch, concurrency, token)
    if summary.failed_count:
        raise typer.Exit(1)
