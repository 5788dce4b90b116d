"""QIDO-RS search (spec §5): parameters, matching, and the returned attributes."""

from .parameters import (
    DIFFERENT_ID_FORMATS,
    EMPTY_VALUE,
    FUZZY_QUOTE,
    NOT_QUERYABLE,
    UNKNOWN_PARAMETER,
    QueryOptions,
    moment_key,
    moment_range,
    parse_include_fields,
    parse_options,
    reject_repeated_keys,
)

__all__ = [
    "DIFFERENT_ID_FORMATS",
    "EMPTY_VALUE",
    "FUZZY_QUOTE",
    "NOT_QUERYABLE",
    "UNKNOWN_PARAMETER",
    "QueryOptions",
    "moment_key",
    "moment_range",
    "parse_include_fields",
    "parse_options",
    "reject_repeated_keys",
]
