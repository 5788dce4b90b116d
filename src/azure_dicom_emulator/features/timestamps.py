"""Times as the service writes them in its JSON: ISO 8601 in UTC, ending in ``Z``."""

from __future__ import annotations

from datetime import datetime

from ..storage.index import as_utc


def utc_text(value: datetime) -> str:
    """``value`` (naive meaning UTC) as ``2023-05-08T05:01:30.144137Z``, without the fraction when it is zero."""
    return as_utc(value).isoformat().replace("+00:00", "Z")
