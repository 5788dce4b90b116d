"""Search queries on the index: matching studies, series or instances, a page at a time, newest first.

Conditions arrive with their values already turned into matching keys (see dicom.matching), so
every match is an equality, a range or a word-prefix lookup on indexed columns.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    false,
    func,
    select,
)

from ..dicom.core_attributes import held_attributes
from .database import InlineStatements, fetch_all
from .schema import instance, person_name_word, series, study
from .tag_values import VALUE_TABLES, TagLevel

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_TABLES = {TagLevel.STUDY: study, TagLevel.SERIES: series, TagLevel.INSTANCE: instance}
_KEYS = {TagLevel.STUDY: "study_key", TagLevel.SERIES: "series_key", TagLevel.INSTANCE: "instance_key"}


@dataclass(frozen=True)
class Equals:
    """``column`` (core) or the tag's value (extended, ``tag_key`` set) equals ``value``."""

    level: TagLevel
    value: object
    column: str | None = None
    tag_key: int | None = None
    kind: str | None = None  # value kind of an extended query tag


@dataclass(frozen=True)
class Between:
    """The value lies in the inclusive range; an end that is None is open."""

    level: TagLevel
    low: str | None
    high: str | None
    column: str | None = None
    tag_key: int | None = None
    kind: str | None = None


@dataclass(frozen=True)
class WordPrefixes:
    """A person name with a word starting with each of the query's words, in order (see dicom.matching).

    ``tag`` is the DICOM tag (for the word index), ``first_word`` the first query word and
    ``pattern`` the LIKE pattern over the words column that checks every query word; it is None
    when the query has one word only, which the word index matches alone.
    """

    level: TagLevel
    tag: int
    first_word: str
    pattern: str | None
    column: str | None = None  # the core words column
    tag_key: int | None = None


@dataclass(frozen=True)
class ModalityInStudy:
    """Some series of the study has this modality key."""

    value: str


@dataclass(frozen=True)
class Nothing:
    """Matches no row (a query value that no stored value can equal)."""


Condition = Equals | Between | WordPrefixes | ModalityInStudy | Nothing


def _owner(level: TagLevel) -> ColumnElement:
    return _TABLES[level].c[_KEYS[level]]


def _split(condition: Condition) -> tuple[tuple, tuple]:
    """The condition's shape (all that decides its SQL) and its values (the SQL's parameters, in order).

    Searches that differ only in their values share one statement, built and compiled once.
    """
    if isinstance(condition, Equals):
        if isinstance(condition.value, str) and "\0" in condition.value:
            return ("nothing",), ()  # no stored key holds a NUL
        return ("equals", condition.level, condition.column, condition.kind), (condition.value, condition.tag_key)
    if isinstance(condition, Between):
        ends = (condition.low is not None, condition.high is not None)
        return ("between", condition.level, condition.column, condition.kind, ends), (
            condition.low,
            condition.high,
            condition.tag_key,
        )
    if isinstance(condition, WordPrefixes):
        first = condition.first_word
        upper = first[:-1] + chr(ord(first[-1]) + 1)
        shape = ("words", condition.level, condition.column, condition.pattern is not None)
        return shape, (condition.tag, first, upper, condition.pattern, condition.tag_key)
    if isinstance(condition, ModalityInStudy):
        return ("modality",), (condition.value,)
    return ("nothing",), ()


def _clause(shape: tuple, value: Callable[[int], BindParameter]) -> ColumnElement:
    """The SQL of a condition of ``shape``; ``value(i)`` stands for the i-th of its values."""
    kind = shape[0]
    if kind == "nothing":
        return false()
    if kind == "modality":
        other = series.alias("modality_series")
        return (
            select(other.c.series_key)
            .where(other.c.study_key == study.c.study_key, other.c.modality_key == value(0))
            .exists()
        )
    if kind == "words":
        return _word_prefixes(shape, value)
    _, level, column_name, value_kind, *ends = shape
    if column_name is not None:
        return _compare(_TABLES[level].c[column_name], shape, value)
    table = VALUE_TABLES[value_kind]
    tag_key = value(1) if kind == "equals" else value(2)
    owners = select(table.c.owner_key).where(table.c.tag_key == tag_key, _compare(table.c.value, shape, value))
    return _owner(level).in_(owners)


def _compare(column: ColumnElement, shape: tuple, value: Callable[[int], BindParameter]) -> ColumnElement:
    if shape[0] == "equals":
        return column == value(0)
    has_low, has_high = shape[4]
    clauses = []
    if has_low:
        clauses.append(column >= value(0))
    if has_high:
        clauses.append(column <= value(1))
    return and_(*clauses)


def _word_prefixes(shape: tuple, value: Callable[[int], BindParameter]) -> ColumnElement:
    _, level, column_name, checks_pattern = shape
    candidates = select(person_name_word.c.owner_key).where(
        person_name_word.c.tag == value(0),
        person_name_word.c.word >= value(1),
        person_name_word.c.word < value(2),
    )
    owner = _owner(level)
    if column_name is not None:
        if not checks_pattern:
            # Without a check on the row, a database can merge the candidates with the owners in key order.
            return owner.in_(candidates)
        return and_(owner.in_(candidates), _TABLES[level].c[column_name].like(value(3)))
    table = VALUE_TABLES["person_name"]
    matching = select(table.c.owner_key).where(table.c.tag_key == value(4), table.c.owner_key.in_(candidates))
    if checks_pattern:
        matching = matching.where(table.c.words.like(value(3)))
    return owner.in_(matching)


def _held_columns(level: TagLevel) -> list[ColumnElement]:
    """The columns of the core attributes the rows of ``level`` hold (see dicom.core_attributes)."""
    return [_TABLES[level].c[attribute.column] for attribute in held_attributes(level)]


_STUDY_COLUMNS = [
    study.c.study_key,
    *_held_columns(TagLevel.STUDY),
    study.c.attributes.label("study_attributes"),
]
_SERIES_COLUMNS = [
    series.c.series_key,
    *_held_columns(TagLevel.SERIES),
    series.c.attributes.label("series_attributes"),
]
_INSTANCE_COLUMNS = [
    instance.c.instance_key,
    *_held_columns(TagLevel.INSTANCE),
    instance.c.sop_class_uid,  # returned from the index, not searchable
    instance.c.version,
    instance.c.attributes.label("instance_attributes"),
]


def _base(level: TagLevel) -> tuple[list[ColumnElement], FromClause, ColumnElement]:
    """The columns of a row at ``level``, the tables they come from, and the column that sorts them newest last."""
    if level == TagLevel.STUDY:
        return _STUDY_COLUMNS, study, study.c.study_key
    if level == TagLevel.SERIES:
        joined = series.join(study, study.c.study_key == series.c.study_key)
        return [*_SERIES_COLUMNS, *_STUDY_COLUMNS], joined, series.c.series_key
    joined = instance.join(series, series.c.series_key == instance.c.series_key).join(
        study, study.c.study_key == instance.c.study_key
    )
    return [*_INSTANCE_COLUMNS, *_SERIES_COLUMNS, *_STUDY_COLUMNS], joined, instance.c.version


async def search(
    conn: AsyncConnection | InlineStatements,
    partition_key: int,
    level: TagLevel,
    conditions: Sequence[Condition],
    limit: int,
    offset: int,
) -> list[Row]:
    """A page of the rows at ``level`` matching every condition, newest first.

    Rows carry the columns of their level and of the levels above it (study for a series, study
    and series for an instance).
    """
    shapes = []
    parameters: dict[str, object] = {"partition_key": partition_key, "limit": limit, "offset": offset}
    for number, condition in enumerate(conditions):
        shape, values = _split(condition)
        shapes.append(shape)
        parameters.update((f"c{number}_{position}", value) for position, value in enumerate(values))
    return await fetch_all(conn, _search_statement(level, tuple(shapes)), parameters)


@functools.lru_cache(maxsize=512)
def _search_statement(level: TagLevel, shapes: tuple[tuple, ...]) -> Select:
    """The search at ``level`` for conditions of ``shapes``, with their values as bound parameters."""
    columns, joined, order = _base(level)
    # Every joined level is named with the partition, so lookups by UID use the (partition, UID) indexes.
    partitions = [
        _TABLES[joined_level].c.partition_key == bindparam("partition_key")
        for joined_level in TagLevel
        if joined_level <= level
    ]
    clauses = [
        _clause(shape, lambda position, number=number: bindparam(f"c{number}_{position}"))
        for number, shape in enumerate(shapes)
    ]
    # The page's keys first, then only its rows: ordering every match would carry all their columns.
    page = (
        select(_owner(level))
        .select_from(joined)
        .where(*partitions, *clauses)
        .order_by(order.desc())
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    return select(*columns).select_from(joined).where(_owner(level).in_(page)).order_by(order.desc())


async def study_counts(conn: AsyncConnection, study_keys: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(series, instances) of each study."""
    statement = (
        select(
            instance.c.study_key,
            func.count(func.distinct(instance.c.series_key)),
            func.count(),
        )
        .where(instance.c.study_key.in_(study_keys))
        .group_by(instance.c.study_key)
    )
    return {row[0]: (row[1], row[2]) for row in await conn.execute(statement)}


async def series_counts(conn: AsyncConnection, series_keys: Sequence[int]) -> dict[int, int]:
    """Instances of each series."""
    statement = (
        select(instance.c.series_key, func.count())
        .where(instance.c.series_key.in_(series_keys))
        .group_by(instance.c.series_key)
    )
    return {row[0]: row[1] for row in await conn.execute(statement)}


async def study_modalities(conn: AsyncConnection, study_keys: Sequence[int]) -> dict[int, list[str]]:
    """The distinct modalities of each study's series, sorted."""
    statement = (
        select(series.c.study_key, series.c.modality)
        .where(series.c.study_key.in_(study_keys), series.c.modality.is_not(None))
        .distinct()
    )
    found: dict[int, list[str]] = defaultdict(list)
    for study_key, modality in await conn.execute(statement):
        found[study_key].append(modality)
    return {key: sorted(values) for key, values in found.items()}


async def latest_metadata(conn: AsyncConnection, level: TagLevel, keys: Sequence[int]) -> dict[int, str]:
    """The stored DICOM JSON of the most recently stored instance of each study, series or instance."""
    if level == TagLevel.INSTANCE:
        instance_keys = dict(zip(keys, keys, strict=True))
    else:
        owner_table = _TABLES[level]
        owner = owner_table.c[_KEYS[level]]
        newest = (
            select(instance.c.instance_key)
            .where(instance.c[_KEYS[level]] == owner)
            .order_by(instance.c.version.desc())
            .limit(1)
            .scalar_subquery()
        )
        rows = await conn.execute(select(owner, newest).where(owner.in_(keys)))
        instance_keys = {row[1]: row[0] for row in rows if row[1] is not None}
    statement = select(instance.c.instance_key, instance.c.metadata).where(
        instance.c.instance_key.in_(list(instance_keys))
    )
    return {instance_keys[row[0]]: row[1] for row in await conn.execute(statement)}
