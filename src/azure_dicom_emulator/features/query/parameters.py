"""Reading a search's query string the way Azure does, with its 400 messages (spec §5.3, §5.4)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ...dicom import matching
from ...dicom.attribute_ids import name_of, parse_attribute_id
from ...dicom.core_attributes import CORE_ATTRIBUTES, MODALITIES_IN_STUDY
from ...dicom.value_kinds import KINDS
from ...errors import BadRequest
from ...storage import search as conditions
from ...storage.tag_values import TagLevel, TagStatus
from ..model_binding import boolean_parameter
from ..paging import DEFAULT_LIMIT, limit_and_offset
from .attributes import Resource

_RESERVED = ("limit", "offset", "fuzzymatching", "includefield")
_LONG = re.compile(r"[+-]?[0-9]+")
_DOUBLE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_LONG_RANGE = range(-(2**63), 2**63)
_KEYWORD_HINT = (
    "If the parameter is an attribute keyword, check the casing as they are case-sensitive. "
    "The conformance statement has a list of supported query parameters, attributes and the levels."
)
UNKNOWN_PARAMETER = "Invalid query: unknown query parameter '{key}'. " + _KEYWORD_HINT
NOT_QUERYABLE = "Invalid query: AttributeId {key} is not queryable.  " + _KEYWORD_HINT
DUPLICATE_KEY = (
    "Invalid QIDO-RS query. Duplicate AttributeId '{key}'. Each attribute is only allowed to be specified once."
)
DIFFERENT_ID_FORMATS = (
    "Invalid query: attribute '{key}' has been specified more than once using different ID formats. "
    "Each attribute is only allowed to be specified once."
)
EMPTY_VALUE = "Invalid query: AttributeId '{key}' has empty string value that is not supported."
QUERY_DISABLED = "Query is disabled on specified attribute '{key}'."
INCLUDE_UNKNOWN = "Invalid query: IncludeField has unknown attribute '{value}'."
INCLUDE_ALL_AND_OTHERS = "Invalid query: cannot specify included fields in addition to 'all'."
INVALID_DATE = (
    "Invalid query: specified Date value '{value}' is invalid for attribute '{name}'. "
    "Date should be valid and formatted as yyyyMMdd."
)
INVALID_DATE_TIME = (
    "Invalid query: specified DateTime value '{value}' is invalid for attribute '{name}'. "
    "DateTime should be valid and formatted as yyyyMMddHHmmss.FFFFFF."
)
DATE_TIME_OFFSET = (
    "Invalid query: specified DateTime value '{value}' for attribute '{name}' contains offset which is not supported."
)
INVALID_TIME = (
    "Invalid query: specified Time value '{value}' is invalid for attribute '{name}'. "
    "Time should be valid and formatted as HHmmss.FFFFFF."
)
EMPTY_RANGE = (
    "Invalid query: specified range is invalid. Both parts in the range cannot be empty. "
    "A range needs a start value, an end value or both."
)
REVERSED_RANGE = (
    "Invalid query: specified range '{value}' is invalid. "
    "The first part {low} should be lesser than or equal to the second part {high}."
)
INVALID_NUMBER = (
    "Invalid query: specified value '{value}' extended query tag with path '{path}' is not a valid {kind} value."
)
FUZZY_QUOTE = (
    "Invalid query: specified tag '{key}' value '{value}' contains unsupported character '\"'. "
    "Remove the character and try again."
)


@dataclass
class QueryOptions:
    """The reserved parameters of a search, and its attribute filters as (key, value) pairs in order."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    fuzzy: bool = False
    include_fields: list[str] = field(default_factory=list)
    filters: list[tuple[str, str]] = field(default_factory=list)


def parse_options(pairs: list[tuple[str, str]]) -> QueryOptions:
    """The search's options; 400 for an invalid ``limit``, ``offset`` or ``fuzzymatching`` (first value counts)."""
    options = QueryOptions()
    first: dict[str, str] = {}
    for raw_key, value in pairs:
        key = raw_key.strip()
        reserved = key.lower()
        if reserved == "includefield":
            options.include_fields.extend(part.strip() for part in value.split(","))
        elif reserved in _RESERVED:
            first.setdefault(reserved, value)
        else:
            options.filters.append((key, value))
    options.limit, options.offset = limit_and_offset(first)
    if "fuzzymatching" in first:
        options.fuzzy = boolean_parameter("FuzzyMatching", first["fuzzymatching"])
    return options


def reject_repeated_keys(filters: list[tuple[str, str]]) -> None:
    """400 when an attribute key occurs twice (keys compare case-insensitively, as Azure's query collection)."""
    seen: set[str] = set()
    for key, _ in filters:
        if key.lower() in seen:
            raise BadRequest(DUPLICATE_KEY.format(key=key))
        seen.add(key.lower())


@dataclass(frozen=True)
class QueryTag:
    """A tag that can be searched on at some level: a core attribute or an extended query tag."""

    tag: int
    level: TagLevel
    vr: str
    column: str | None = None
    key_column: str | None = None
    words_column: str | None = None
    tag_key: int | None = None
    path: str | None = None
    enabled: bool = True
    has_errors: bool = False


def queryable_tags(resource: Resource, extended_tags: list) -> list[QueryTag]:
    """The core attributes and the ready extended query tags queryable on ``resource``."""
    levels = resource.filter_levels
    found = [
        QueryTag(
            attribute.tag,
            attribute.level,
            attribute.vr,
            column=attribute.column,
            key_column=attribute.key_column,
            words_column=attribute.words_column,
        )
        for attribute in CORE_ATTRIBUTES.values()
        if attribute.level in levels
    ]
    for row in extended_tags:
        if row.status == TagStatus.READY and TagLevel(row.level) in levels:
            found.append(
                QueryTag(
                    int(row.path, 16),
                    TagLevel(row.level),
                    row.vr,
                    tag_key=row.tag_key,
                    path=row.path,
                    enabled=bool(row.query_status),
                    has_errors=row.error_count > 0,
                )
            )
    return found


@dataclass
class ParsedFilters:
    """The conditions of a search, the tags they name, and the keys naming tags with indexing errors."""

    conditions: list[conditions.Condition] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    erroneous_keys: list[str] = field(default_factory=list)


def parse_filters(filters: list[tuple[str, str]], queryable: list[QueryTag], fuzzy: bool) -> ParsedFilters:
    """The conditions of the attribute filters, in Azure's order of checks (first failure is the 400)."""
    parsed = ParsedFilters()
    for key, raw_value in filters:
        tag = parse_attribute_id(key)
        if tag is None:
            raise BadRequest(UNKNOWN_PARAMETER.format(key=key))
        query_tag = _matching_tag(tag, queryable)
        if query_tag is None:
            raise BadRequest(NOT_QUERYABLE.format(key=key))
        if not query_tag.enabled:
            raise BadRequest(QUERY_DISABLED.format(key=key))
        value = raw_value.strip()
        if not value:
            raise BadRequest(EMPTY_VALUE.format(key=key))
        condition = _condition(query_tag, key, value, fuzzy)
        if query_tag.tag in parsed.tags:
            raise BadRequest(DIFFERENT_ID_FORMATS.format(key=key))
        if query_tag.has_errors:
            parsed.erroneous_keys.append(key)
        parsed.tags.append(query_tag.tag)
        parsed.conditions.append(condition)
    return parsed


def _matching_tag(tag: int, queryable: list[QueryTag]) -> QueryTag | None:
    for candidate in queryable:
        if candidate.tag == tag:
            return candidate
    return None


def _condition(query_tag: QueryTag, key: str, value: str, fuzzy: bool) -> conditions.Condition:
    vr, level = query_tag.vr, query_tag.level
    target = {"column": query_tag.column} if query_tag.tag_key is None else {"tag_key": query_tag.tag_key}
    kind = None if query_tag.tag_key is None else KINDS[vr]
    if query_tag.tag == MODALITIES_IN_STUDY:
        return conditions.ModalityInStudy(matching.text_key(value))
    if vr == "PN":
        if fuzzy:
            return _fuzzy(query_tag, key, value)
        column = {"column": query_tag.key_column} if query_tag.key_column else target
        return conditions.Equals(level, matching.person_name_key(value), kind=kind, **column)
    if vr in ("DA", "DT", "TM"):
        return _date_or_time(query_tag, value, target, kind)
    if vr in ("IS", "SL", "SS", "UL", "US", "FL", "FD"):
        return conditions.Equals(level, _number(query_tag, value), kind=kind, **target)
    if vr == "UI":
        return conditions.Equals(level, value.rstrip("\0"), kind=kind, **target)
    column = {"column": query_tag.key_column} if query_tag.key_column else target
    return conditions.Equals(level, matching.text_key(value), kind=kind, **column)


def _fuzzy(query_tag: QueryTag, key: str, value: str) -> conditions.Condition:
    if '"' in value:
        raise BadRequest(FUZZY_QUOTE.format(key=key, value=value))
    words = matching.person_name_words(value)
    if not words:
        return conditions.Nothing()
    pattern = matching.fuzzy_pattern(value) if len(words) > 1 else None  # the word index matches one word alone
    if query_tag.words_column:
        return conditions.WordPrefixes(query_tag.level, query_tag.tag, words[0], pattern, column=query_tag.words_column)
    return conditions.WordPrefixes(query_tag.level, query_tag.tag, words[0], pattern, tag_key=query_tag.tag_key)


def _date_or_time(query_tag: QueryTag, value: str, target: dict, kind: str | None) -> conditions.Condition:
    bounds = moment_range(query_tag.tag, query_tag.vr, value)
    if bounds is None:
        return conditions.Equals(query_tag.level, moment_key(query_tag.tag, query_tag.vr, value), kind=kind, **target)
    return conditions.Between(query_tag.level, *bounds, kind=kind, **target)


def moment_range(tag: int, vr: str, value: str) -> tuple[str | None, str | None] | None:
    """The (low, high) matching keys of a range (``a-b``, ``a-``, ``-b``) of a DA, DT or TM attribute, an open end
    None (a TM end its extreme); None when ``value`` is one moment (see `moment_key`). 400 in Azure's words."""
    if "-" not in value or (vr == "DT" and _is_single_date_time_with_offset(value)):
        return None
    parts = value.split("-")
    if len(parts) != 2:
        moment_key(tag, vr, value)  # a value with several hyphens is no valid moment
    low_text, high_text = (part.strip() for part in parts)
    if not low_text and not high_text:
        raise BadRequest(EMPTY_RANGE)
    low = moment_key(tag, vr, low_text) if low_text else _open_end(vr, low=True)
    high = moment_key(tag, vr, high_text) if high_text else _open_end(vr, low=False)
    if low is not None and high is not None and low > high:
        raise BadRequest(REVERSED_RANGE.format(value=value, low=low_text, high=high_text))
    return low, high


def _is_single_date_time_with_offset(value: str) -> bool:
    return matching.has_offset(value) and value.count("-") == 1 and not value.startswith("-")


def _open_end(vr: str, low: bool) -> str | None:
    if vr == "TM":
        return matching.TIME_MIN if low else matching.TIME_MAX
    return None


def moment_key(tag: int, vr: str, value: str) -> str:
    """The matching key of one DA, DT or TM query value of attribute ``tag``; 400 in Azure's words when invalid."""
    name = name_of(tag)
    if vr == "DA":
        key = matching.date_key(value)
        message = INVALID_DATE
    elif vr == "TM":
        key = matching.time_key(value)
        message = INVALID_TIME
    else:
        if matching.has_offset(value):
            raise BadRequest(DATE_TIME_OFFSET.format(value=value, name=name))
        key = matching.date_time_key(value, allow_offset=False)
        message = INVALID_DATE_TIME
    if key is None or value != value.rstrip(" \0"):
        raise BadRequest(message.format(value=value, name=name))
    return key


def _number(query_tag: QueryTag, value: str) -> int | float:
    kind = KINDS[query_tag.vr]
    if kind == "long" and _LONG.fullmatch(value) and int(value) in _LONG_RANGE:
        return int(value)
    if kind == "double" and _DOUBLE.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    raise BadRequest(INVALID_NUMBER.format(value=value, path=query_tag.path, kind=kind))


def parse_include_fields(values: list[str]) -> tuple[bool, set[int]]:
    """(``all`` asked, the tags asked for); 400 for an unknown attribute or ``all`` with others."""
    if any(value.lower() == "all" for value in values):
        if len(values) > 1:
            raise BadRequest(INCLUDE_ALL_AND_OTHERS)
        return True, set()
    tags = set()
    for value in values:
        tag = parse_attribute_id(value)
        if tag is None:
            raise BadRequest(INCLUDE_UNKNOWN.format(value=value))
        tags.add(tag)
    return False, tags
