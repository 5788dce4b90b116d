"""Searching workitems (PS3.18 §11.9): the ten keys, Azure's matching, paging and returned attributes."""

from __future__ import annotations

import json
from collections.abc import Collection

from ...dicom import matching
from ...dicom.attribute_ids import parse_attribute_id
from ...dicom.ups_search_keys import (
    PATIENT_ID,
    PATIENT_NAME,
    PROCEDURE_STEP_STATE,
    RETURN_KEYS,
    SEARCH_KEYS,
    START_DATE_TIME,
    STUDY_UID,
    SearchKey,
    match_key,
)
from ...errors import BadRequest
from ...storage import workitems as queries
from ..query import (
    DIFFERENT_ID_FORMATS,
    EMPTY_VALUE,
    FUZZY_QUOTE,
    NOT_QUERYABLE,
    UNKNOWN_PARAMETER,
    QueryOptions,
    moment_key,
    moment_range,
    parse_include_fields,
    reject_repeated_keys,
)
from ..scope import Scope
from ..services import Services

_COLUMNS = {
    PATIENT_ID: "patient_id_key",
    START_DATE_TIME: "start_date_time",
    STUDY_UID: "study_uid",
    PROCEDURE_STEP_STATE: "state",
}


async def search(services: Services, scope: Scope, options: QueryOptions) -> bytes:
    """A page of the partition's matching workitems, newest first, as a DICOM JSON array; empty when none match.

    Each result holds the return keys of PS3.4 Table CC.2.5-3 the workitem has, the attributes searched
    on and those of ``includefield`` (or all with ``includefield=all``). 400 in Azure's words (plain
    text) for an attribute that is not searchable, or an empty or invalid value.
    """
    reject_repeated_keys(options.filters)
    conditions: list[queries.Condition] = []
    searched: list[SearchKey] = []
    for key, raw_value in options.filters:
        search_key = _search_key(key)
        value = raw_value.strip()
        if not value:
            raise BadRequest(EMPTY_VALUE.format(key=key))
        condition = _condition(search_key, key, value, options.fuzzy)
        if search_key in searched:
            raise BadRequest(DIFFERENT_ID_FORMATS.format(key=key))
        searched.append(search_key)
        conditions.append(condition)
    include_all, included = parse_include_fields(options.include_fields)
    async with services.db.read() as conn:
        found = await queries.search_workitems(conn, scope.partition_key, conditions, options.limit, options.offset)
    if not found:
        return b""
    returned = RETURN_KEYS | included | {search_key.path[0] for search_key in searched}
    results = [_returned(json.loads(text), None if include_all else returned) for text in found]
    return json.dumps(results, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _search_key(key: str) -> SearchKey:
    """The search key named ``key`` (keywords or hexadecimal tags, a sequence's joined by a dot)."""
    tags = tuple(parse_attribute_id(part) for part in key.split("."))
    if None in tags:
        raise BadRequest(UNKNOWN_PARAMETER.format(key=key))
    found = next((search_key for search_key in SEARCH_KEYS if search_key.path == tags), None)
    if found is None:
        raise BadRequest(NOT_QUERYABLE.format(key=key))
    return found


def _condition(search_key: SearchKey, key: str, value: str, fuzzy: bool) -> queries.Condition:
    if search_key == PATIENT_NAME:
        if not fuzzy:
            return queries.Equals("patient_name_key", matching.person_name_key(value))
        if '"' in value:
            raise BadRequest(FUZZY_QUOTE.format(key=key, value=value))
        pattern = matching.fuzzy_pattern(value)
        return queries.Nothing() if pattern is None else queries.Like("patient_name_words", pattern)
    if search_key == START_DATE_TIME:
        tag = search_key.path[0]
        bounds = moment_range(tag, search_key.vr, value)
        if bounds is None:
            return queries.Equals(_COLUMNS[search_key], moment_key(tag, search_key.vr, value))
        return queries.Between(_COLUMNS[search_key], *bounds)
    if search_key == PROCEDURE_STEP_STATE:
        return queries.Equals(_COLUMNS[search_key], value.upper())
    if search_key in _COLUMNS:
        return queries.Equals(_COLUMNS[search_key], match_key(search_key.vr, value))
    return queries.SequenceValue(search_key.path_text, match_key(search_key.vr, value))


def _returned(dataset: dict, tags: Collection[int] | None) -> dict:
    """The stored dataset with only the attributes of ``tags`` (all when None)."""
    if tags is None:
        return dataset
    return {key: element for key, element in dataset.items() if int(key, 16) in tags}
