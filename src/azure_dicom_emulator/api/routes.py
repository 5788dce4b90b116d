"""The route table: every Azure route, at ``/{version}/`` and, where Azure allows, under a partition."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Route, Router
from starlette.types import Receive, Scope, Send

from ..features.auth import DataAction
from ..runtime.deferred_import import deferred
from . import emulator, events, service
from . import issuer as auth_issuer
from .auth import Endpoint, guarded

READ = DataAction.READ
WRITE = DataAction.WRITE
DELETE = DataAction.DELETE
MANAGE_TAGS = DataAction.MANAGE_EXTENDED_QUERY_TAGS
EXPORT = DataAction.EXPORT

STUDY = "studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"
WORKITEM = "workitems/{workitem}"

# (path after the version and optional partition segment, endpoint as ``module:function`` of this package,
# methods, the data action a caller's roles must grant). The endpoints' modules are imported after start-up
# (``runtime.deferred_import``): they, and pydicom under them, would delay the health check's first answer.
# A request goes to the first route that matches its path and method, so a literal path comes before the
# pattern that also matches it (``studies/$bulkUpdate`` before ``studies/{study}``); otherwise the order only
# decides how many patterns a request is tried against: a viewer's requests come first.
PARTITIONED = [
    (INSTANCE + "/frames/{frames}", "frames:frames", ["GET"], READ),
    (INSTANCE + "/rendered", "frames:rendered", ["GET"], READ),
    (INSTANCE + "/frames/{frame}/rendered", "frames:rendered", ["GET"], READ),
    (INSTANCE + "/metadata", "retrieve:metadata", ["GET"], READ),
    (SERIES + "/metadata", "retrieve:metadata", ["GET"], READ),
    (STUDY + "/metadata", "retrieve:metadata", ["GET"], READ),
    (INSTANCE, "retrieve:retrieve", ["GET"], READ),
    (SERIES, "retrieve:retrieve", ["GET"], READ),
    (STUDY, "retrieve:retrieve", ["GET"], READ),
    ("studies", "query:all_studies", ["GET"], READ),
    ("series", "query:all_series", ["GET"], READ),
    ("instances", "query:all_instances", ["GET"], READ),
    (STUDY + "/series", "query:study_series", ["GET"], READ),
    (STUDY + "/instances", "query:study_instances", ["GET"], READ),
    (SERIES + "/instances", "query:study_series_instances", ["GET"], READ),
    ("studies", "store:store", ["POST", "PUT"], WRITE),
    ("studies/$bulkUpdate", "update:bulk_update", ["POST"], WRITE),
    (STUDY, "store:store", ["POST", "PUT"], WRITE),
    (STUDY, "delete:delete", ["DELETE"], DELETE),
    (SERIES, "delete:delete", ["DELETE"], DELETE),
    (INSTANCE, "delete:delete", ["DELETE"], DELETE),
    ("export", "export:export", ["POST"], EXPORT),
    ("workitems", "workitems:search", ["GET"], READ),
    ("workitems", "workitems:create", ["POST"], WRITE),
    (WORKITEM, "workitems:retrieve", ["GET"], READ),
    (WORKITEM, "workitems:update", ["POST"], WRITE),
    (WORKITEM + "/state", "workitems:change_state", ["PUT"], WRITE),
    (WORKITEM + "/cancelrequest", "workitems:request_cancellation", ["POST"], WRITE),
]
UNPARTITIONED = [
    ("partitions", "service:list_partitions", ["GET"], READ),
    ("extendedquerytags", "extended_query_tags:add", ["POST"], MANAGE_TAGS),
    ("extendedquerytags", "extended_query_tags:list_tags", ["GET"], READ),
    ("extendedquerytags/{tag}", "extended_query_tags:get_tag", ["GET"], READ),
    ("extendedquerytags/{tag}", "extended_query_tags:delete_tag", ["DELETE"], MANAGE_TAGS),
    ("extendedquerytags/{tag}", "extended_query_tags:update_tag", ["PATCH"], MANAGE_TAGS),
    ("extendedquerytags/{tag}/errors", "extended_query_tags:list_errors", ["GET"], READ),
    ("operations/{operation}", "operations:get", ["GET"], READ),
    ("changefeed", "changefeed:feed", ["GET"], READ),
    ("changefeed/latest", "changefeed:latest", ["GET"], READ),
]
INSPECTOR = [
    ("/emulator/", "studies"),
    ("/emulator/pages/studies/{study}", "study"),
    ("/emulator/thumbnails/{study}/{series}/{instance}", "thumbnail"),
    ("/emulator/pages/changefeed", "change_feed"),
    ("/emulator/pages/events", "events_page"),
    ("/emulator/pages/operations", "operations_page"),
    ("/emulator/pages/workitems", "workitems_page"),
    ("/emulator/pages/faults", "faults_page"),
    ("/emulator/pages/requests", "requests_page"),
]
"""The inspector's pages (``GET``, anonymous): path, and the function of ``api.inspector`` that serves it."""


def routes() -> list[BaseRoute]:
    """Every route of the emulator; ValueError for a versioned route that declares no data action."""
    table: list[BaseRoute] = []
    for path, endpoint, methods in map(_declared, PARTITIONED):
        table.append(Route(f"/{{version}}/{path}", endpoint, methods=methods))
        table.append(Route(f"/{{version}}/partitions/{{partition}}/{path}", endpoint, methods=methods))
    for path, endpoint, methods in map(_declared, UNPARTITIONED):
        table.append(Route(f"/{{version}}/{path}", endpoint, methods=methods))
    anonymous = [
        Route("/health/check", service.health, methods=["GET"]),
        *events.routes(),
        *auth_issuer.routes(),
        *emulator.routes(),
        *(Route(path, _endpoint(f"inspector:{name}"), methods=["GET"]) for path, name in INSPECTOR),
    ]
    return [*table, *anonymous]


def _declared(entry: tuple) -> tuple:
    """A table entry with its endpoint behind the guard of its data action; ValueError when it declares none."""
    if len(entry) != 4 or not isinstance(entry[3], DataAction):
        raise ValueError(f"the route {entry[0]!r} declares no data action (read, write, delete, ...)")
    path, endpoint, methods, action = entry
    return path, guarded(_endpoint(endpoint), action), methods


def _endpoint(name: str) -> Endpoint:
    """The stand-in for the endpoint ``module:function`` of this package."""
    return deferred(f"{__package__}.{name}")


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
