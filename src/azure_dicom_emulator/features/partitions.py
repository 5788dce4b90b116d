"""Data partitions: the default partition, implicit creation on store, listing and lookup (spec §2)."""

from __future__ import annotations

import re

from ..errors import BadRequest
from ..storage import index, schema
from .services import Services
from .timestamps import utc_text

DEFAULT_PARTITION = schema.DEFAULT_PARTITION_NAME
DEFAULT_PARTITION_KEY = schema.DEFAULT_PARTITION_KEY
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

FEATURE_DISABLED = "Data partitions feature is disabled."
NAME_MISSING = "PartitionName value is missing in the route segment."
NAME_INVALID = "The specified PartitionName is invalid."
NOT_FOUND = "Specified PartitionName does not exist."


def check_name(name: str) -> None:
    """Raises BadRequest unless ``name`` is a valid partition name."""
    if not _NAME.match(name):
        raise BadRequest(NAME_INVALID)


async def resolve(services: Services, name: str, create: bool) -> int:
    """The key of partition ``name``; creates it when ``create`` is set, else 400 when unknown."""
    check_name(name)
    key = services.partition_keys.get(name)
    if key is not None:
        return key
    async with services.db.read() as conn:
        row = await index.find_partition(conn, name)
    if row is None:
        if not create:
            raise BadRequest(NOT_FOUND)
        async with services.db.write() as conn:
            await index.create_partition(conn, name)
            row = await index.find_partition(conn, name)
    # Partitions are never deleted, so a key once seen stays valid.
    services.partition_keys[name] = row.partition_key
    return row.partition_key


async def list_all(services: Services) -> list[dict]:
    """Every partition as Azure's JSON objects."""
    async with services.db.read() as conn:
        rows = await index.list_partitions(conn)
    return [
        {
            "partitionKey": row.partition_key,
            "partitionName": row.partition_name,
            "createdDate": utc_text(row.created_date),
        }
        for row in rows
    ]
