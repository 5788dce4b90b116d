"""An export's Azure Blob destination: its settings checked, a client with credentials, the container prepared.

A ``blobContainerUri`` gets its credential from, in order: a SAS in the URI; the well-known key when
the account is Azurite's ``devstoreaccount1``; a connection string configured for the URI
(``export_credentials``); ``DefaultAzureCredential`` when ``azure-identity`` is installed. Strict mode
adds Azure's refusals of account keys, SAS and anonymous access (Azurite's account always passes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ...errors import BadRequest
from ...settings import Settings
from ...storage.azure_blob_client import (
    DEVELOPMENT_ACCOUNT,
    BlobFailure,
    account_of_url,
    connection_string_fields,
    container_from_connection_string,
    container_from_url,
    development_credential,
    failure_of,
)
from ..json_body import body_error

if TYPE_CHECKING:
    from azure.storage.blob.aio import ContainerClient

BOTH_REQUIRED = "Please specify both ConnectionString and BlobContainerName."
NOT_WITH_URI = "ConnectionString and BlobContainerName cannot be specified along with BlobContainerUri."
NO_MANAGED_IDENTITY = "Managed identity cannot be used with a ConnectionString."
ACCOUNT_KEY = "Account key authentication is not supported."
SAS = "Shared Access Signatures (SAS) are not supported."
PUBLIC_ACCESS = "Public access to Azure Blob Storage containers is not supported."
CONTAINER_MISSING = "Azure Blob Storage container '{container}' does not exist in account '{account}'."
CANNOT_CONNECT = "Cannot connect to Azure Blob Storage container '{container}' in account '{account}'."
CANNOT_AUTHENTICATE = "Unable to authenticate for Azure Blob Storage container '{container}' in account '{account}'."
CANNOT_WRITE = "Failed to write to Azure Blob Storage container '{container}' in account '{account}'."
_FAILURE_TEXTS = {
    BlobFailure.NOT_FOUND: CONTAINER_MISSING,
    BlobFailure.AUTHENTICATION: CANNOT_AUTHENTICATE,
    BlobFailure.REFUSED: CANNOT_WRITE,
    BlobFailure.TRANSIENT: CANNOT_WRITE,
    BlobFailure.UNREACHABLE: CANNOT_CONNECT,
}
CHECK_SECONDS = 5.0
CHECK_OPTIONS = {"retry_total": 0, "connection_timeout": CHECK_SECONDS, "read_timeout": CHECK_SECONDS}
"""How the request's check of the container talks to it: one try, a short wait."""
RUN_OPTIONS = {"retry_total": 3, "connection_timeout": 20.0, "read_timeout": 120.0}
"""How the operation talks to the container."""


def checked_destination(settings: dict, strict: bool) -> dict:
    """The destination to keep (its settings in Azure's names, blanks left out), checked in Azure's order."""
    uri = _text(settings, "blobcontaineruri")
    connection = _text(settings, "connectionstring")
    name = _text(settings, "blobcontainername")
    managed = settings.get("usemanagedidentity") is True
    if uri is None and (connection is None or name is None):
        raise BadRequest(BOTH_REQUIRED)
    if uri is not None and (connection is not None or name is not None):
        raise BadRequest(NOT_WITH_URI)
    if managed and connection is not None:
        raise BadRequest(NO_MANAGED_IDENTITY)
    if uri is not None:
        parts = urlsplit(uri)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not _container_of(uri):
            raise body_error("$.destination.settings.blobContainerUri", "The value is not the URI of a container.")
    if strict:
        _refuse_what_azure_refuses(uri, connection, managed)
    if uri is not None:
        return {"blobContainerUri": uri, "useManagedIdentity": managed}
    return {"connectionString": connection, "blobContainerName": name}


def open_container(settings: Settings, destination: dict, options: dict) -> ContainerClient:
    """An asyncio client of the destination's container; 400 (cannot connect) when its settings name none."""
    try:
        return _client(settings, destination, options)
    except ValueError as exc:
        raise BadRequest(CANNOT_CONNECT.format(**names_of(destination))) from exc


async def prepare_container(container: ContainerClient, destination: dict, operation_id: str) -> str:
    """Creates the export's empty error log in the container, which must exist; returns the log's URL.

    Azure's 400 texts when the container is missing, unreachable, or refuses our credential or the
    write. Creating the log is the check: a SAS for the container's blobs cannot read its properties.
    """
    names = names_of(destination)
    log = container.get_blob_client(error_log_name(operation_id))
    try:
        await log.create_append_blob()
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise
        raise BadRequest(_FAILURE_TEXTS[failure].format(**names)) from exc
    return log.url.split("?", 1)[0]


def names_of(destination: dict) -> dict[str, str]:
    """The container and account a destination names (for messages): ``{"container": ..., "account": ...}``."""
    uri = destination.get("blobContainerUri")
    if uri is not None:
        return {"container": _container_of(uri), "account": account_of_url(uri)}
    fields = connection_string_fields(destination["connectionString"])
    account = DEVELOPMENT_ACCOUNT if _is_development(fields) else fields.get("ACCOUNTNAME", "")
    return {"container": destination["blobContainerName"], "account": account}


def error_log_name(operation_id: str) -> str:
    """The append blob an export logs its skipped identifiers and failed copies to."""
    return f"{operation_id}/errors.log"


def result_name(operation_id: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    """The blob an exported instance is copied to (the partition is not part of it, as in Azure)."""
    return f"{operation_id}/results/{study_uid}/{series_uid}/{sop_uid}.dcm"


def _client(settings: Settings, destination: dict, options: dict) -> ContainerClient:
    version = settings.blob_api_version
    if "connectionString" in destination:
        return container_from_connection_string(
            destination["connectionString"], destination["blobContainerName"], api_version=version, **options
        )
    uri = destination["blobContainerUri"]
    credential = None
    if not urlsplit(uri).query:
        configured = _configured_connection_string(settings.export_credentials, uri)
        if account_of_url(uri) == DEVELOPMENT_ACCOUNT:
            credential = development_credential()
        elif configured is not None:
            return container_from_connection_string(configured, _container_of(uri), api_version=version, **options)
        else:
            credential = _default_azure_credential()
    return container_from_url(uri, credential, api_version=version, **options)


def _configured_connection_string(credentials: dict[str, str], uri: str) -> str | None:
    """The connection string configured for the longest prefix of ``uri`` (or for its account name)."""
    account = account_of_url(uri)
    matching = [prefix for prefix in credentials if prefix == account or uri.lower().startswith(prefix.lower())]
    return credentials[max(matching, key=len)] if matching else None


def _default_azure_credential():
    """``DefaultAzureCredential`` when ``azure-identity`` is installed, else None (anonymous access)."""
    try:
        from azure.identity.aio import DefaultAzureCredential
    except ImportError:
        return None
    return DefaultAzureCredential()


def _refuse_what_azure_refuses(uri: str | None, connection: str | None, managed: bool) -> None:
    if connection is not None:
        fields = connection_string_fields(connection)
        if _is_development(fields):
            return
        if "ACCOUNTKEY" in fields:
            raise BadRequest(ACCOUNT_KEY)
        raise BadRequest(SAS if "SHAREDACCESSSIGNATURE" in fields else PUBLIC_ACCESS)
    if account_of_url(uri) == DEVELOPMENT_ACCOUNT:
        return
    if urlsplit(uri).query:
        raise BadRequest(SAS)
    if not managed:
        raise BadRequest(PUBLIC_ACCESS)


def _is_development(fields: dict[str, str]) -> bool:
    return fields.get("USEDEVELOPMENTSTORAGE", "").lower() == "true" or fields.get("ACCOUNTNAME") == DEVELOPMENT_ACCOUNT


def _container_of(uri: str) -> str:
    """The container a container URI names: its last path segment."""
    return unquote(urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1])


def _text(settings: dict, key: str) -> str | None:
    value = settings.get(key)
    return value if isinstance(value, str) and value.strip() else None
