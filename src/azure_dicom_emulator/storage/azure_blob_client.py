"""Clients of Azure Blob Storage containers, synchronous or asyncio, all speaking one pinned API version.

The pinned ``x-ms-version`` is one the Azure Storage emulator (Azurite) accepts: the newest
``azure-storage-blob`` sends a newer one, which Azurite rejects. Connection strings are read by
the library, ``UseDevelopmentStorage=true`` included. The library (about 27 MB with what it loads)
is imported only when a client is first built, so a server that never exports never loads it.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

# Azurite's well-known development account, which every Azure SDK knows too.
DEVELOPMENT_ACCOUNT = "devstoreaccount1"
DEVELOPMENT_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class BlobFailure(Enum):
    """What a failed call to Azure Blob Storage means."""

    NOT_FOUND = "not found"  # the container (or blob) does not exist
    AUTHENTICATION = "authentication"  # the credential was refused (401, 403)
    REFUSED = "refused"  # any other answer that trying again will not change
    TRANSIENT = "transient"  # a timeout, throttling or server error: worth another try
    UNREACHABLE = "unreachable"  # no answer: no connection, or none in time


def _container_client_class(asynchronous: bool) -> type:
    if asynchronous:
        from azure.storage.blob.aio import ContainerClient as AsyncClient

        return AsyncClient
    from azure.storage.blob import ContainerClient as SyncClient

    return SyncClient


def container_from_connection_string(
    connection_string: str, container_name: str, *, api_version: str, asynchronous: bool = True, **options: Any
) -> AsyncContainerClient | ContainerClient:
    """A client of ``container_name`` in the account of ``connection_string``; ValueError when it is malformed."""
    kind = _container_client_class(asynchronous)
    return kind.from_connection_string(connection_string, container_name, api_version=api_version, **options)


def container_from_url(
    container_url: str, credential: Any = None, *, api_version: str, asynchronous: bool = True, **options: Any
) -> AsyncContainerClient | ContainerClient:
    """A client of the container at ``container_url`` (a SAS in its query is used), with ``credential`` if any."""
    kind = _container_client_class(asynchronous)
    return kind.from_container_url(container_url, credential=credential, api_version=api_version, **options)


def failure_of(exc: BaseException) -> BlobFailure | None:
    """What an exception raised by a client call means; None when it is no failure of the storage service's."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

    if isinstance(exc, ClientAuthenticationError):
        return BlobFailure.AUTHENTICATION
    if isinstance(exc, ResourceNotFoundError):
        return BlobFailure.NOT_FOUND
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        if status in (401, 403):
            return BlobFailure.AUTHENTICATION
        if status is None or status in (408, 429) or status >= 500:
            return BlobFailure.TRANSIENT
        return BlobFailure.REFUSED
    if isinstance(exc, (AzureError, OSError, TimeoutError)):
        return BlobFailure.UNREACHABLE
    return None


def account_of_url(container_url: str) -> str:
    """The storage account a container URL names: its host's first label, or its first path segment for
    path-style URLs on an IP address or ``localhost`` (as Azurite serves them)."""
    parts = urlsplit(container_url)
    host = parts.hostname or ""
    if host == "localhost" or host.replace(".", "").isdigit() or ":" in host:
        return parts.path.lstrip("/").split("/", 1)[0]
    return host.split(".", 1)[0]


def development_credential() -> dict[str, str]:
    """The shared key of Azurite's development account."""
    return {"account_name": DEVELOPMENT_ACCOUNT, "account_key": DEVELOPMENT_ACCOUNT_KEY}


def connection_string_fields(connection_string: str) -> dict[str, str]:
    """The ``Name=value`` fields of a connection string, names upper-cased (values may hold ``=``)."""
    pairs = (field.split("=", 1) for field in connection_string.split(";") if field.strip())
    return {pair[0].strip().upper(): pair[1] if len(pair) > 1 else "" for pair in pairs}
