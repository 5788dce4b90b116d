"""A bulk loader for big PostgreSQL indexes: copies of every stored instance, written with set-based SQL.

``multiply`` takes an index that STOW filled (on PostgreSQL, with file blobs) and adds ``factor - 1`` copies
of each instance: the rows storing the copies through STOW would have written, with derived UIDs (the seed's
followed by ``.<copy number>``), keys from the tables' sequences, versions from the version counter, and
change-feed entries (with their events) in the seed's order, copy after copy. Each copy's file is a hard
link to its seed's file (so retrieving a copy answers the seed's bytes, and the copy's size and frame
index are its seed's).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from azure_dicom_emulator.dicom.core_attributes import Match, held_attributes
from azure_dicom_emulator.dicom.levels import TagLevel
from azure_dicom_emulator.features.events.envelope import Source, event_grid_event
from azure_dicom_emulator.features.timestamps import utc_text
from azure_dicom_emulator.settings import Settings
from azure_dicom_emulator.storage.index import ChangeAction
from azure_dicom_emulator.storage.schema import instance, series, study
from azure_dicom_emulator.storage.tag_values import VALUE_TABLES

UID_LIMIT = 64
_STUDY_PERSON_NAME_TAGS = [
    attribute.tag for attribute in held_attributes(TagLevel.STUDY) if attribute.match is Match.PERSON_NAME
]
_TOUCHED_TABLES = [
    "study",
    "series",
    "instance",
    "change_feed",
    "person_name_word",
    "event_outbox",
    *(table.name for table in VALUE_TABLES.values()),
]


class SeedRefused(ValueError):
    """The index is not one that stores alone filled, or the copies' UIDs would be too long."""


@dataclass(frozen=True)
class BulkLoad:
    """What one multiplication added and how long its parts took, in seconds."""

    seed_instances: int
    added_instances: int
    rows_seconds: float
    links_seconds: float
    vacuum_seconds: float


def derived_uid(uid: str, copy: int) -> str:
    """The UID of copy number ``copy`` (1, 2, ...) of whatever ``uid`` names."""
    return f"{uid}.{copy}"


async def multiply(settings: Settings, factor: int) -> BulkLoad:
    """Makes the index of ``settings`` (the server's, on PostgreSQL with file blobs) ``factor`` times as big:
    ``factor - 1`` copies of each instance, rows and files, with their events when ``settings`` enables events.

    The index must hold only what stores wrote (every change-feed entry a creation of a current instance,
    no updated instance); no server may write to it meanwhile. The rows are written in one transaction;
    the files are linked once it commits; then the tables are vacuumed and analyzed, as autovacuum would
    have done during so big a load.
    """
    engine = create_async_engine(settings.effective_database_url)
    try:
        async with engine.connect() as conn:
            started = time.perf_counter()
            async with conn.begin():
                seed = await _check_seed(conn, factor - 1)
                await _write_rows(conn, factor - 1, seed)
                if settings.events_enabled:
                    await _write_events(conn, settings, seed)
            rows_done = time.perf_counter()
            await _link_files(conn, settings.blob_dir)
            links_done = time.perf_counter()
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(f"VACUUM (ANALYZE) {', '.join(_TOUCHED_TABLES)}"))
        vacuum_done = time.perf_counter()
    finally:
        await engine.dispose()
    return BulkLoad(
        seed_instances=seed.instances,
        added_instances=seed.instances * (factor - 1),
        rows_seconds=rows_done - started,
        links_seconds=links_done - rows_done,
        vacuum_seconds=vacuum_done - links_done,
    )


@dataclass(frozen=True)
class _Seed:
    """The extent of the seed: its instance count, the version counter and the highest keys before the copies."""

    instances: int
    version: int
    study_key: int
    series_key: int
    instance_key: int
    sequence: int


async def _check_seed(conn: AsyncConnection, copies: int) -> _Seed:
    """The seed's extent, after checking that stores alone wrote it and that the copies' UIDs fit."""
    if conn.dialect.name != "postgresql":
        raise SeedRefused("the bulk loader writes PostgreSQL indexes only")
    if copies < 1:
        raise SeedRefused("the factor must be at least 2")
    facts = (
        await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM instance) AS instances,"
                " (SELECT count(*) FROM change_feed) AS changes,"
                " (SELECT count(*) FROM change_feed WHERE action <> 0) AS other_changes,"
                " (SELECT count(*) FROM instance WHERE original_version IS NOT NULL) AS updated,"
                " (SELECT coalesce(max(length(sop_uid)), 0) FROM instance) AS longest_sop,"
                " (SELECT coalesce(max(length(series_uid)), 0) FROM instance) AS longest_series,"
                " (SELECT coalesce(max(length(study_uid)), 0) FROM instance) AS longest_study,"
                " (SELECT coalesce(max(study_key), 0) FROM study) AS study_key,"
                " (SELECT coalesce(max(series_key), 0) FROM series) AS series_key,"
                " (SELECT coalesce(max(instance_key), 0) FROM instance) AS instance_key,"
                " (SELECT coalesce(max(sequence), 0) FROM change_feed) AS sequence"
            )
        )
    ).one()
    if facts.instances == 0:
        raise SeedRefused("the index holds no instance to copy")
    if facts.changes != facts.instances or facts.other_changes or facts.updated:
        raise SeedRefused("the index holds deletions or updates: only an index that stores alone filled is copied")
    longest = max(facts.longest_sop, facts.longest_series, facts.longest_study)
    if len(derived_uid("x" * longest, copies)) > UID_LIMIT:
        raise SeedRefused(f"a copy's UID would be longer than {UID_LIMIT} characters")
    version = (await conn.execute(text("SELECT value FROM counter WHERE name = 'version' FOR UPDATE"))).scalar_one()
    return _Seed(facts.instances, version, facts.study_key, facts.series_key, facts.instance_key, facts.sequence)


def _uid(column: str, copy: str = "c.k") -> str:
    """SQL of the derived UID of ``column`` for the copy number ``copy``."""
    return f"({column} || '.' || {copy})"


def _replaced(column: str, uids: list[str], copy: str) -> str:
    """SQL of ``column`` (JSON text) with each quoted UID of ``uids`` replaced by its derived UID."""
    expression = column
    for uid in uids:
        expression = f"replace({expression}, '\"' || {uid} || '\"', '\"' || {_uid(uid, copy)} || '\"')"
    return expression


def _copy_rows(table: Table, overrides: dict[str, str], source: str, order: str) -> str:
    """INSERT ... SELECT of ``table``'s columns but its key, each from ``overrides`` or the seed row ``s``."""
    columns = [column.name for column in table.columns if not column.primary_key]
    values = [overrides.get(name, f"s.{name}") for name in columns]
    return f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {source} ORDER BY {order}"


async def _write_rows(conn: AsyncConnection, copies: int, seed: _Seed) -> None:
    """Every row of the copies: studies, series, instances, change feed, person-name words and tag values (a store
    records no indexing error: only a reindex does)."""
    version = f"({seed.version} + (c.k - 1) * {seed.instances} + r.rank)"
    statements = [
        f"CREATE TEMP TABLE copy_number AS SELECT generate_series(1, {copies}) AS k",
        "CREATE TEMP TABLE version_rank AS"
        " SELECT version AS seed_version, row_number() OVER (ORDER BY version) AS rank FROM instance",
        "CREATE UNIQUE INDEX ON version_rank (seed_version)",
        _copy_rows(
            study,
            {"study_uid": _uid("s.study_uid"), "attributes": _replaced("s.attributes", ["s.study_uid"], "c.k")},
            f"study s CROSS JOIN copy_number c WHERE s.study_key <= {seed.study_key}",
            "c.k, s.study_key",
        ),
        "CREATE TEMP TABLE study_map AS SELECT s.study_key AS seed_key, c.k, n.study_key AS copy_key"
        " FROM study s CROSS JOIN copy_number c JOIN study n"
        f" ON n.partition_key = s.partition_key AND n.study_uid = {_uid('s.study_uid')}"
        f" WHERE s.study_key <= {seed.study_key}",
        "CREATE UNIQUE INDEX ON study_map (seed_key, k)",
        _copy_rows(
            series,
            {
                "study_key": "c.copy_key",
                "series_uid": _uid("s.series_uid"),
                "attributes": _replaced("s.attributes", ["p.study_uid", "s.series_uid"], "c.k"),
            },
            "series s JOIN study p ON p.study_key = s.study_key JOIN study_map c ON c.seed_key = s.study_key"
            f" WHERE s.series_key <= {seed.series_key}",
            "c.k, s.series_key",
        ),
        "CREATE TEMP TABLE series_map AS SELECT s.series_key AS seed_key, c.k, n.series_key AS copy_key,"
        " c.copy_key AS study_copy_key FROM series s JOIN study_map c ON c.seed_key = s.study_key JOIN series n"
        f" ON n.study_key = c.copy_key AND n.series_uid = {_uid('s.series_uid')}"
        f" WHERE s.series_key <= {seed.series_key}",
        "CREATE UNIQUE INDEX ON series_map (seed_key, k)",
        _copy_rows(
            instance,
            {
                "study_key": "c.study_copy_key",
                "series_key": "c.copy_key",
                "study_uid": _uid("s.study_uid"),
                "series_uid": _uid("s.series_uid"),
                "sop_uid": _uid("s.sop_uid"),
                "version": version,
                "blob_key": f"(s.partition_key || '/' || {_uid('s.study_uid')} || '/' || {_uid('s.series_uid')}"
                f" || '/' || {_uid('s.sop_uid')} || '.' || {version} || '.dcm')",
                "metadata": _replaced("s.metadata", ["s.study_uid", "s.series_uid", "s.sop_uid"], "c.k"),
                "attributes": _replaced("s.attributes", ["s.study_uid", "s.series_uid", "s.sop_uid"], "c.k"),
                "created_at": "now()",
                **{f"original_{name}": "NULL" for name in ("version", "blob_key", "size", "transfer_syntax_uid")},
                "original_metadata": "NULL",
            },
            "instance s JOIN series_map c ON c.seed_key = s.series_key"
            " JOIN version_rank r ON r.seed_version = s.version"
            f" WHERE s.instance_key <= {seed.instance_key}",
            "c.k, s.instance_key",
        ),
        "CREATE TEMP TABLE instance_map AS SELECT s.instance_key AS seed_key, c.k, n.instance_key AS copy_key,"
        " s.blob_key AS seed_blob_key, n.blob_key AS copy_blob_key FROM instance s CROSS JOIN copy_number c"
        f" JOIN instance n ON n.partition_key = s.partition_key AND n.study_uid = {_uid('s.study_uid')}"
        f" AND n.series_uid = {_uid('s.series_uid')} AND n.sop_uid = {_uid('s.sop_uid')}"
        f" WHERE s.instance_key <= {seed.instance_key}",
        "CREATE UNIQUE INDEX ON instance_map (seed_key, k)",
        "INSERT INTO change_feed (partition_key, study_uid, series_uid, sop_uid, action, timestamp, version)"
        f" SELECT s.partition_key, {_uid('s.study_uid')}, {_uid('s.series_uid')}, {_uid('s.sop_uid')}, s.action,"
        f" (SELECT greatest(now(), max(timestamp)) FROM change_feed), {version}"
        " FROM change_feed s CROSS JOIN copy_number c JOIN version_rank r ON r.seed_version = s.version"
        f" WHERE s.sequence <= {seed.sequence} ORDER BY c.k, s.sequence",
    ]
    for statement in statements:
        await conn.execute(text(statement))
    await _copy_owned_rows(conn, version)
    await conn.execute(
        text(f"UPDATE counter SET value = {seed.version + copies * seed.instances} WHERE name = 'version'")
    )


async def _write_events(conn: AsyncConnection, settings: Settings, seed: _Seed) -> None:
    """The outbox rows of the copies' change-feed entries: each its event, as a store writes it."""
    placeholders = {"study": "\x01study", "series": "\x01series", "sop": "\x01sop", "partition": "\x01partition"}
    moment = datetime(2001, 2, 3, 4, 5, 6, 789012, tzinfo=UTC)
    sequence = 987654321012345
    source = Source(settings.events_topic, settings.events_service_host, settings.partitions_enabled)
    ids = (placeholders["study"], placeholders["series"], placeholders["sop"])
    event = event_grid_event(source, ChangeAction.CREATE, placeholders["partition"], ids, sequence, moment)
    body = json.dumps(event, separators=(",", ":"))
    expressions = {
        json.dumps(placeholders["study"])[1:-1]: "s.study_uid",
        json.dumps(placeholders["series"])[1:-1]: "s.series_uid",
        json.dumps(placeholders["sop"])[1:-1]: "s.sop_uid",
        json.dumps(placeholders["partition"])[1:-1]: "p.partition_name",
        event["id"]: "gen_random_uuid()::text",
        str(sequence): "s.sequence::text",
        utc_text(moment): "CASE WHEN extract(microseconds FROM s.timestamp)::bigint % 1000000 = 0"
        " THEN to_char(s.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " ELSE to_char(s.timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END",
    }
    parts: list[tuple[str, bool]] = [(body, False)]  # (text, whether it is an SQL expression)
    for literal, expression in expressions.items():
        parts = [piece for part in parts for piece in _cut(part, literal, expression)]
    sql = " || ".join(piece if is_sql else "'" + piece.replace("'", "''") + "'" for piece, is_sql in parts)
    await conn.execute(
        text(
            f"INSERT INTO event_outbox (sequence, body, created_at) SELECT s.sequence, {sql}, s.timestamp"
            f" FROM change_feed s JOIN partition p ON p.partition_key = s.partition_key"
            f" WHERE s.sequence > {seed.sequence}"
        )
    )


def _cut(part: tuple[str, bool], literal: str, expression: str) -> list[tuple[str, bool]]:
    """A piece of text cut at each ``literal``, with ``expression`` in its place (an expression stays whole)."""
    piece, is_sql = part
    if is_sql:
        return [part]
    pieces = piece.split(literal)
    result = [(pieces[0], False)]
    for rest in pieces[1:]:
        result += [(expression, True), (rest, False)]
    return result


_LEVEL_MAPS = {TagLevel.STUDY: "study_map", TagLevel.SERIES: "series_map", TagLevel.INSTANCE: "instance_map"}


async def _copy_owned_rows(conn: AsyncConnection, version: str) -> None:
    """The copies' person-name words and extended query tag values, each owner's through its level's key map."""
    tags = list(await conn.execute(text("SELECT tag_key, path, vr, level FROM extended_query_tag")))
    name_tags = {level: [] for level in TagLevel}
    name_tags[TagLevel.STUDY].extend(_STUDY_PERSON_NAME_TAGS)
    for tag in tags:
        if tag.vr == "PN":
            name_tags[TagLevel(tag.level)].append(int(tag.path, 16))
    for level, numbers in name_tags.items():
        if numbers:
            await conn.execute(
                text(
                    "INSERT INTO person_name_word (tag, owner_key, word) SELECT s.tag, c.copy_key, s.word"
                    f" FROM person_name_word s JOIN {_LEVEL_MAPS[level]} c ON c.seed_key = s.owner_key"
                    f" WHERE s.tag IN ({', '.join(map(str, numbers))})"
                )
            )
    for table in VALUE_TABLES.values():
        columns = [column.name for column in table.columns]
        values = [{"owner_key": "c.copy_key", "version": version}.get(name, f"s.{name}") for name in columns]
        for level, key_map in _LEVEL_MAPS.items():
            await conn.execute(
                text(
                    f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(values)}"
                    f" FROM {table.name} s JOIN extended_query_tag t ON t.tag_key = s.tag_key"
                    f" JOIN {key_map} c ON c.seed_key = s.owner_key"
                    " JOIN version_rank r ON r.seed_version = s.version"
                    f" WHERE t.level = {int(level)}"
                )
            )


async def _link_files(conn: AsyncConnection, blob_dir: Path) -> None:
    """Hard-links each copy's file to its seed's, making the folders it needs."""
    made: set[Path] = set()
    result = await conn.stream(text("SELECT seed_blob_key, copy_blob_key FROM instance_map ORDER BY copy_key"))
    try:
        async for seed_key, copy_key in result:
            target = blob_dir / copy_key
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            os.link(blob_dir / seed_key, target)
    finally:
        await result.close()
    await conn.commit()
    await conn.execute(text("DROP TABLE copy_number, version_rank, study_map, series_map, instance_map"))
    await conn.commit()
