"""The route table: every Azure route, at ``/{version}/`` and, where Azure allows, under a partition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from . import (
    changefeed,
    delete,
    emulator,
    events,
    extended_query_tags,
    frames,
    inspector,
    operations,
    query,
    retrieve,
    service,
    store,
)

STUDY = "studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"

# (path after the version and optional partition segment, endpoint, methods). No two paths match the same
# URL, so the order only decides how many patterns a request is tried against: a viewer's requests come first.
PARTITIONED = [
    (INSTANCE + "/frames/{frames}", frames.frames, ["GET"]),
    (INSTANCE + "/rendered", frames.rendered, ["GET"]),
    (INSTANCE + "/frames/{frame}/rendered", frames.rendered, ["GET"]),
    (INSTANCE + "/metadata", retrieve.metadata, ["GET"]),
    (SERIES + "/metadata", retrieve.metadata, ["GET"]),
    (STUDY + "/metadata", retrieve.metadata, ["GET"]),
    (INSTANCE, retrieve.retrieve, ["GET"]),
    (SERIES, retrieve.retrieve, ["GET"]),
    (STUDY, retrieve.retrieve, ["GET"]),
    ("studies", query.all_studies, ["GET"]),
    ("series", query.all_series, ["GET"]),
    ("instances", query.all_instances, ["GET"]),
    (STUDY + "/series", query.study_series, ["GET"]),
    (STUDY + "/instances", query.study_instances, ["GET"]),
    (SERIES + "/instances", query.study_series_instances, ["GET"]),
    ("studies", store.store, ["POST", "PUT"]),
    (STUDY, store.store, ["POST", "PUT"]),
    (STUDY, delete.delete, ["DELETE"]),
    (SERIES, delete.delete, ["DELETE"]),
    (INSTANCE, delete.delete, ["DELETE"]),
]
UNPARTITIONED = [
    ("partitions", service.list_partitions, ["GET"]),
    ("extendedquerytags", extended_query_tags.add, ["POST"]),
    ("extendedquerytags", extended_query_tags.list_tags, ["GET"]),
    ("extendedquerytags/{tag}", extended_query_tags.get_tag, ["GET"]),
    ("extendedquerytags/{tag}", extended_query_tags.delete_tag, ["DELETE"]),
    ("extendedquerytags/{tag}", extended_query_tags.update_tag, ["PATCH"]),
    ("extendedquerytags/{tag}/errors", extended_query_tags.list_errors, ["GET"]),
    ("operations/{operation}", operations.get, ["GET"]),
    ("changefeed", changefeed.feed, ["GET"]),
    ("changefeed/latest", changefeed.latest, ["GET"]),
]


def routes() -> list[BaseRoute]:
    """Every route of the emulator."""
    table: list[BaseRoute] = []
    for path, endpoint, methods in PARTITIONED:
        table.append(Route(f"/{{version}}/{path}", endpoint, methods=methods))
        table.append(Route(f"/{{version}}/partitions/{{partition}}/{path}", endpoint, methods=methods))
    for path, endpoint, methods in UNPARTITIONED:
        table.append(Route(f"/{{version}}/{path}", endpoint, methods=methods))
    return [
        *table,
        Route("/health/check", service.health, methods=["GET"]),
        *events.routes(),
        *emulator.routes(),
        *inspector.routes(),
    ]


class SegmentCountRouter(Router):
    """Starlette's router, trying each request only on the routes whose paths have as many segments as its own.

    The table holds about fifty patterns and Starlette tries them one after the other; grouped by segment
    count, a request is tried against a handful. Within a group the usual rules hold (405 for a known
    path with another method, the redirect of a trailing slash, 404), so the answers are the same.
    """

    def __init__(self, routes: Sequence[BaseRoute], **kwargs) -> None:
        super().__init__(routes, **kwargs)
        groups: dict[int, list[BaseRoute]] = defaultdict(list)
        for route in routes:
            groups[_segment_count(route.path)].append(route)
        self._groups = {count: Router(group, redirect_slashes=self.redirect_slashes) for count, group in groups.items()}

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hands an HTTP request to the routes with its segment count; anything else to the whole table."""
        group = self._groups.get(_segment_count(get_route_path(scope))) if scope["type"] == "http" else None
        if group is None:
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        await group.app(scope, receive, send)


def _segment_count(path: str) -> int:
    """The number of segments in ``path``, a trailing slash ignored (so its redirect is found in the group)."""
    return path.rstrip("/").count("/")
