"""From an HTTP request to the feature layer's Scope: API version, partition and URL base."""

from __future__ import annotations

import re

from starlette.requests import Request

from ..errors import BadRequest, NotFound
from ..features import partitions
from ..features.scope import Scope
from ..features.services import Services

_VERSION = re.compile(r"^v(\d+)(?:\.(\d+))?(-prerelease)?$")
SUPPORTED_VERSIONS = {("1", "0", "-prerelease"): 1, ("1", "0", ""): 1, ("2", "0", ""): 2}
SUPPORTED_VERSIONS_HEADER = "1.0-prerelease, 1, 2"


class UnsupportedApiVersion(BadRequest):
    """A version segment of the right shape that names no supported version."""


def services_of(request: Request) -> Services:
    """The running emulator's shared services."""
    return request.app.state.services


def api_version(segment: str) -> int:
    """The major API version of a path's version segment; 404 for a segment that is no version at all."""
    match = _VERSION.match(segment)
    if not match:
        raise NotFound()
    major, minor, prerelease = match.group(1), match.group(2) or "0", match.group(3) or ""
    version = SUPPORTED_VERSIONS.get((major, minor, prerelease))
    if version is None:
        raise UnsupportedApiVersion(segment)
    return version


def is_prerelease(segment: str) -> bool:
    """Whether a path's version segment names a prerelease version (routes introduced later are not there)."""
    match = _VERSION.match(segment)
    return bool(match and match.group(3))


def base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the client reached us, with the listening port when Host has none."""
    scheme = request.scope.get("scheme", "http")  # as request.url has it, without parsing the whole URL
    host = request.headers.get("host", "")
    if not host:
        server_host, server_port = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server_host}:{server_port}"
    elif not re.search(r":\d+$", host) or host.endswith("]"):
        server = request.scope.get("server")
        default_port = 443 if scheme == "https" else 80
        if server and server[1] and server[1] != default_port:
            host = f"{host}:{server[1]}"
    return f"{scheme}://{host}"


def host_name(request: Request) -> str:
    """The host name of the request, without port."""
    host = request.headers.get("host") or (request.scope.get("server") or ("localhost", 0))[0]
    return re.sub(r":\d+$", "", host)


def warning_header(request: Request, message: str) -> dict[str, str]:
    """Azure's ``Warning`` header carrying ``message``: ``299 {host}: "{message}"``, the host without port."""
    return {"Warning": f'299 {host_name(request)}: "{message}"'}


def check_route(request: Request) -> None:
    """Raises what `scope_of` raises for the version segment and the partition's name, without the database."""
    api_version(request.path_params["version"])
    name = _partition_name(request)
    if name is not None:
        partitions.check_name(name)


def _partition_name(request: Request) -> str | None:
    """The route's partition name, None without one; 400 when the route and the partitions setting disagree."""
    name = request.path_params.get("partition")
    enabled = services_of(request).settings.partitions_enabled
    if enabled and name is None:
        raise BadRequest(partitions.NAME_MISSING)
    if not enabled and name is not None:
        raise BadRequest(partitions.FEATURE_DISABLED)
    return name


async def scope_of(request: Request, create_partition: bool = False) -> Scope:
    """The request's Scope, applying the partition rules of spec §2 (400s in Azure's words)."""
    services = services_of(request)
    segment = request.path_params["version"]
    version = api_version(segment)
    name = _partition_name(request)
    enabled = services.settings.partitions_enabled
    if name is None:
        key, name = partitions.DEFAULT_PARTITION_KEY, partitions.DEFAULT_PARTITION
    else:
        key = await partitions.resolve(services, name, create=create_partition)
    return Scope(
        api_version=version,
        version_segment=segment,
        partition_key=key,
        partition_name=name,
        partitions_enabled=enabled,
        base_url=base_url(request),
    )


def unpartitioned_scope(request: Request) -> Scope:
    """The Scope of a route that Azure never partitions (extended query tags, operations)."""
    segment = request.path_params["version"]
    return Scope(
        api_version=api_version(segment),
        version_segment=segment,
        partition_key=partitions.DEFAULT_PARTITION_KEY,
        partition_name=partitions.DEFAULT_PARTITION,
        partitions_enabled=False,
        base_url=base_url(request),
    )


async def tools_scope(request: Request, partition: str | None = None) -> Scope:
    """The Scope of an ``/emulator`` page or tool: API v2, in ``partition`` (the default one when None)."""
    services = services_of(request)
    key, name = partitions.DEFAULT_PARTITION_KEY, partitions.DEFAULT_PARTITION
    if partition is not None and partition != name:
        key, name = await partitions.resolve(services, partition, create=False), partition
    return Scope(
        api_version=2,
        version_segment="v2",
        partition_key=key,
        partition_name=name,
        partitions_enabled=services.settings.partitions_enabled,
        base_url=base_url(request),
    )
