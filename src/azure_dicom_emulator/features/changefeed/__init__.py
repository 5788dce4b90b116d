"""The change feed (spec §7); siblings may read it through these names."""

from .service import FeedQuery, latest, read

__all__ = ["FeedQuery", "latest", "read"]
