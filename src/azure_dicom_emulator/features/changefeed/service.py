"""The change feed (spec §7): entries by sequence (v1) or in a time window (v2), their state and metadata.

Parameters are validated as Azure's model binding does, with its messages: v1 names the
parameters as its method arguments (``offset``, ``limit``), v2 as its options' properties
(``Offset``, ``Limit``, ``StartTime``, ``EndTime``); ``includeMetadata`` is an argument in both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Row

from ...errors import BadRequest
from ...storage import change_feed
from ...storage.index import ChangeAction, as_utc
from ..model_binding import INT32, INT64, boolean_parameter, integer_parameter, invalid_parameter
from ..services import Services

_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)

ACTIONS = {ChangeAction.CREATE: "Create", ChangeAction.DELETE: "Delete", ChangeAction.UPDATE: "Update"}
CURRENT, REPLACED, DELETED = "Current", "Replaced", "Deleted"


@dataclass(frozen=True)
class FeedQuery:
    """A validated ``GET /changefeed``: v1 reads sequences after ``offset``, v2 skips ``offset`` rows of a window."""

    api_version: int
    offset: int
    limit: int
    include_metadata: bool
    start: datetime = _EARLIEST
    end: datetime = _LATEST


def feed_query(api_version: int, params: Mapping[str, str]) -> FeedQuery:
    """The query named by ``params`` (lowercased names, first values); BadRequest with Azure's message if invalid."""
    include_metadata = _boolean(params, "includeMetadata")
    if api_version < 2:
        offset = _integer(params, "offset", 0, 0, INT32[-1])
        limit = _integer(params, "limit", 10, 1, 100)
        return FeedQuery(api_version, offset, limit, include_metadata)
    offset = _integer(params, "Offset", 0, 0, INT64[-1])
    limit = _integer(params, "Limit", 100, 1, 200)
    start = _time(params, "StartTime") or _EARLIEST
    end = _time(params, "EndTime") or _LATEST
    if end <= start:
        raise BadRequest(
            f"The start time '{_dotnet_time(start)}' must occur strictly before the end time '{_dotnet_time(end)}'."
        )
    return FeedQuery(api_version, offset, limit, include_metadata, start, end)


def latest_query(params: Mapping[str, str]) -> bool:
    """Whether ``GET /changefeed/latest`` asks for metadata; BadRequest if ``includeMetadata`` is not a boolean."""
    return _boolean(params, "includeMetadata")


async def read(services: Services, query: FeedQuery) -> str:
    """The entries ``query`` selects, as a JSON array."""
    async with services.db.read() as conn:
        if query.api_version < 2:
            rows = await change_feed.by_sequence(conn, query.offset, query.offset + query.limit, query.include_metadata)
        else:
            rows = await change_feed.by_time(
                conn, query.start, query.end, query.offset, query.limit, query.include_metadata
            )
    lower = services.settings.change_feed_enum_case == "lower"
    return "[" + ",".join(_entry(row, query.include_metadata, lower) for row in rows) + "]"


async def latest(services: Services, api_version: int, include_metadata: bool) -> str | None:
    """The newest entry as JSON (v1 by sequence, v2 by timestamp), or None when the feed is empty."""
    async with services.db.read() as conn:
        row = await change_feed.latest(conn, by_time=api_version >= 2, with_metadata=include_metadata)
    if row is None:
        return None
    return _entry(row, include_metadata, services.settings.change_feed_enum_case == "lower")


def _entry(row: Row, include_metadata: bool, lower: bool) -> str:
    """One entry in Azure's shape; ``metadata`` (the current version's) only while the instance exists."""
    if row.current_version is None:
        state = DELETED
    elif row.current_version != row.version:
        state = REPLACED
    else:
        state = CURRENT
    action = ACTIONS[ChangeAction(row.action)]
    entry = {
        "sequence": row.sequence,
        "partitionName": row.partition_name,
        "studyInstanceUid": row.study_uid,
        "seriesInstanceUid": row.series_uid,
        "sopInstanceUid": row.sop_uid,
        "action": action.lower() if lower else action,
        "timestamp": as_utc(row.timestamp).isoformat(timespec="microseconds"),
        "state": state.lower() if lower else state,
    }
    text = json.dumps(entry, separators=(",", ":"))
    if include_metadata and state != DELETED:
        text = f'{text[:-1]},"metadata":{row.metadata}}}'
    return text


def _integer(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name.lower())
    return default if raw is None else integer_parameter(name, raw, low, high, INT64)


def _boolean(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name.lower())
    return True if raw is None else boolean_parameter(name, raw)


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name.lower())
    if raw is None or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise invalid_parameter(name, f"The value '{raw}' is not valid for {name}.") from None
    if value.tzinfo is None:
        raise invalid_parameter(name, "Date and time value must specify a time zone.")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise invalid_parameter(name, f"The value '{raw}' is not valid for {name}.") from None


def _dotnet_time(value: datetime) -> str:
    """``value`` as .NET writes a DateTimeOffset with the invariant culture."""
    return f"{value.month:02d}/{value.day:02d}/{value.year:04d} {value:%H:%M:%S} +00:00"
