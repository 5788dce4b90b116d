"""Search queries on the index: matching studies, series or instances, a page at a time, newest first.

Conditions arrive with their values already turned into matching keys (see dicom.matching), so
every match is an equality, a range or a word-prefix lookup on indexed columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, FromClause, Row, and_, false, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import instance, person_name_word, series, study
from .tag_values import VALUE_TABLES, TagLevel

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


def _clause(condition: Condition) -> ColumnElement:
    if isinstance(condition, Nothing):
        return false()
    if isinstance(condition, ModalityInStudy):
        other = series.alias("modality_series")
        return (
            select(other.c.series_key)
            .where(other.c.study_key == study.c.study_key, other.c.modality_key == condition.value)
            .exists()
        )
    if isinstance(condition, WordPrefixes):
        return _word_prefixes(condition)
    if condition.tag_key is None:
        column = _TABLES[condition.level].c[condition.column]
        return _compare(column, condition)
    table = VALUE_TABLES[condition.kind]
    owners = select(table.c.owner_key).where(table.c.tag_key == condition.tag_key, _compare(table.c.value, condition))
    return _owner(condition.level).in_(owners)


def _compare(column: ColumnElement, condition: Equals | Between) -> ColumnElement:
    if isinstance(condition, Equals):
        if isinstance(condition.value, str) and "\0" in condition.value:
            return false()  # no stored key holds a NUL
        return column == condition.value
    clauses = []
    if condition.low is not None:
        clauses.append(column >= condition.low)
    if condition.high is not None:
        clauses.append(column <= condition.high)
    return and_(*clauses)


def _word_prefixes(condition: WordPrefixes) -> ColumnElement:
    upper = condition.first_word[:-1] + chr(ord(condition.first_word[-1]) + 1)
    candidates = select(person_name_word.c.owner_key).where(
        person_name_word.c.tag == condition.tag,
        person_name_word.c.word >= condition.first_word,
        person_name_word.c.word < upper,
    )
    owner = _owner(condition.level)
    if condition.tag_key is None:
        if condition.pattern is None:
            # Without a check on the row, a database can merge the candidates with the owners in key order.
            return owner.in_(candidates)
        words = _TABLES[condition.level].c[condition.column]
        return and_(owner.in_(candidates), words.like(condition.pattern))
    table = VALUE_TABLES["person_name"]
    matching = select(table.c.owner_key).where(table.c.tag_key == condition.tag_key, table.c.owner_key.in_(candidates))
    if condition.pattern is not None:
        matching = matching.where(table.c.words.like(condition.pattern))
    return owner.in_(matching)


_STUDY_COLUMNS = [
    study.c.study_key,
    study.c.study_uid,
    study.c.patient_id,
    study.c.patient_name,
    study.c.patient_birth_date,
    study.c.referring_physician_name,
    study.c.study_date,
    study.c.study_description,
    study.c.accession_number,
    study.c.attributes.label("study_attributes"),
]
_SERIES_COLUMNS = [
    series.c.series_key,
    series.c.series_uid,
    series.c.modality,
    series.c.performed_procedure_step_start_date,
    series.c.manufacturer_model_name,
    series.c.attributes.label("series_attributes"),
]
_INSTANCE_COLUMNS = [
    instance.c.instance_key,
    instance.c.sop_uid,
    instance.c.sop_class_uid,
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
    conn: AsyncConnection,
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
    columns, joined, order = _base(level)
    # Every joined level is named with the partition, so lookups by UID use the (partition, UID) indexes.
    partitions = [
        _TABLES[joined_level].c.partition_key == partition_key for joined_level in TagLevel if joined_level <= level
    ]
    # The page's keys first, then only its rows: ordering every match would carry all their columns.
    page = (
        select(_owner(level))
        .select_from(joined)
        .where(*partitions, *(_clause(c) for c in conditions))
        .order_by(order.desc())
        .limit(limit)
        .offset(offset)
    )
    statement = select(*columns).select_from(joined).where(_owner(level).in_(page)).order_by(order.desc())
    return list(await conn.execute(statement))


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
