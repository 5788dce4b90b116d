"""The route table: every Azure route, at ``/{version}/`` and, where Azure allows, under a partition."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from . import changefeed, delete, events, extended_query_tags, frames, operations, query, retrieve, service, store

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
    return [*table, Route("/health/check", service.health, methods=["GET"]), *events.routes()]
