"""QIDO-RS: the six search routes, with Azure's checks, matching, paging and returned attributes (spec §5)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ...dicom.attribute_ids import parse_attribute_id
from ...dicom.core_attributes import CORE_ATTRIBUTES
from ...storage import search as queries
from ...storage import tag_values
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid
from .attributes import Resource, default_tags
from .parameters import QueryOptions, parse_filters, parse_include_fields, queryable_tags, reject_repeated_keys
from .results import build_datasets

_STUDY_UID = CORE_ATTRIBUTES[0x0020000D]  # StudyInstanceUID, the implicit filter of study-scoped routes
_SERIES_UID = CORE_ATTRIBUTES[0x0020000E]  # SeriesInstanceUID, that of series-scoped routes


@dataclass
class SearchResult:
    """The matching datasets as a JSON array (empty when none), and the filter keys naming erroneous tags."""

    body: bytes
    count: int
    erroneous_keys: list[str] = field(default_factory=list)


async def search(
    services: Services,
    scope: Scope,
    resource: Resource,
    options: QueryOptions,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> SearchResult:
    """Runs one search: 400 in Azure's words for a bad query, else a page of results newest first.

    ``limit`` and ``offset`` count results at the route's level (studies, series or instances).
    """
    reject_repeated_keys(options.filters)
    require_valid(study_uid, series_uid)
    async with services.db.read() as conn:
        needs_extended = any(not _is_core_key(key) for key, _ in options.filters)
        extended = await tag_values.all_tags(conn) if needs_extended else []
        parsed = parse_filters(options.filters, queryable_tags(resource, extended), options.fuzzy)
        route_conditions = []
        if study_uid is not None:
            route_conditions.append(queries.Equals(_STUDY_UID.level, normalized(study_uid), column=_STUDY_UID.column))
            parsed.tags.append(_STUDY_UID.tag)
        if series_uid is not None:
            route_conditions.append(
                queries.Equals(_SERIES_UID.level, normalized(series_uid), column=_SERIES_UID.column)
            )
            parsed.tags.append(_SERIES_UID.tag)
        include_all, included = parse_include_fields(options.include_fields)
        tags = default_tags(resource.filter_levels, scope.api_version, include_all) | included | set(parsed.tags)
        rows = await queries.search(
            conn,
            scope.partition_key,
            resource.level,
            [*route_conditions, *parsed.conditions],
            options.limit,
            options.offset,
        )
        datasets = await build_datasets(conn, resource.level, rows, tags) if rows else []
    body = json.dumps(datasets, separators=(",", ":"), ensure_ascii=False).encode() if datasets else b""
    return SearchResult(body, len(datasets), parsed.erroneous_keys)


def _is_core_key(key: str) -> bool:
    tag = parse_attribute_id(key)
    return tag is None or tag in CORE_ATTRIBUTES
