"""Writing new versions of instances: rows, tag values and change feed, once their files are published (DESIGN §4).

Storing an instance and updating one are the same work once the new file is under its version's key
(``version_numbers``) and its metadata built: the study, series and instance rows, the extended query
tag values, and a change-feed entry with its event, all in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ..storage import index, reset, tag_values
from ..storage.index import ChangeAction, InstanceId
from . import change_log
from .extended_query_tags import IndexedInstance, index_instances
from .scope import Scope
from .services import Services

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass
class NewVersion:
    """A new version of one instance: its number, the key its file is published under, and what its rows hold."""

    number: int
    key: str
    instance_id: InstanceId
    sop_class_uid: str
    transfer_syntax_uid: str
    size: int
    metadata: bytes
    """The instance's DICOM JSON (bulk data left out)."""
    frame_index: str
    """Where each frame lies in the file (``dicom.frames.FrameIndex`` as JSON)."""
    attributes: str | None
    """The attributes searches return at instance level (``dicom.query_attributes``), as JSON."""
    study_values: dict
    """The study's indexed values (``dicom.index_values``) and its returned attributes."""
    series_values: dict
    """The series' indexed values and its returned attributes."""
    extended_values: dict[int, object] = field(default_factory=dict)
    """Extended query tag values already computed (by tag); the others are taken from ``metadata``."""
    replaces: Row | None = None
    """The instance's stored row when it exists: this version takes its place."""
    keeps_original: bool = False
    """An update: the replaced row's original version is kept (its latest becomes the original when it
    has none). Otherwise a replaced instance starts afresh, without an original (spec §10)."""


class ReservedBeforeReset(Exception):
    """A version's number was reserved before a reset that came since: its rows are not written."""


async def write_new_versions(
    conn: AsyncConnection, services: Services, scope: Scope, versions: Sequence[NewVersion], action: ChangeAction
) -> list[str]:
    """Writes a new version of each instance on ``conn``'s transaction; returns the keys of the replaced
    versions' files that no row names once it commits, for the caller to delete then.

    Every instance appears once in ``versions``, its file already published. ReservedBeforeReset when a
    version number predates the latest reset. The caller calls ``services.events.wake()`` once it has committed.
    """
    await tag_values.lock_tag_set(conn, exclusive=False)
    if min(version.number for version in versions) <= await reset.last_version_before_reset(conn):
        raise ReservedBeforeReset
    tags = await tag_values.all_tags(conn)
    study_keys, series_keys = await _write_studies_and_series(conn, scope.partition_key, versions)
    now = datetime.now(UTC)
    new_rows = []
    for version in versions:
        study_uid, series_uid, sop_uid = version.instance_id
        row = _instance_row(version, study_keys[study_uid], series_keys[(study_uid, series_uid)], now)
        if version.replaces is not None:
            await index.replace_instance(conn, version.replaces.instance_key, row)
        else:
            ids = {"study_uid": study_uid, "series_uid": series_uid, "sop_uid": sop_uid}
            new_rows.append({**row, "partition_key": scope.partition_key, **ids})
    await index.insert_instances(conn, new_rows)
    await index_instances(
        conn,
        scope.partition_key,
        tags,
        [
            IndexedInstance(
                instance_id=version.instance_id,
                version=version.number,
                study_key=study_keys[version.instance_id[0]],
                series_key=series_keys[version.instance_id[:2]],
                metadata=version.metadata,
                known_values=version.extended_values,
            )
            for version in versions
        ],
    )
    changes = [(version.instance_id, version.number) for version in versions]
    await change_log.record(conn, services, scope, action, changes)
    return [key for version in versions if version.replaces is not None for key in _superseded(version)]


def _superseded(version: NewVersion) -> list[str]:
    """The files of ``version.replaces`` that no row names once ``version`` is written."""
    replaced = version.replaces
    if version.keeps_original:
        return [] if replaced.original_version is None else [replaced.blob_key]
    return [key for key in (replaced.blob_key, replaced.original_blob_key) if key]


def _original_columns(version: NewVersion) -> dict:
    """The original-version columns of the row ``version`` writes."""
    replaced = version.replaces
    if not version.keeps_original or replaced is None:
        return dict.fromkeys(_ORIGINAL_COLUMNS)
    if replaced.original_version is not None:
        return {f"original_{name}": getattr(replaced, f"original_{name}") for name in _ORIGINAL_COLUMNS_OF}
    return {f"original_{name}": getattr(replaced, name) for name in _ORIGINAL_COLUMNS_OF}


_ORIGINAL_COLUMNS_OF = ("version", "blob_key", "size", "transfer_syntax_uid", "metadata")
_ORIGINAL_COLUMNS = tuple(f"original_{name}" for name in _ORIGINAL_COLUMNS_OF)


async def _write_studies_and_series(
    conn: AsyncConnection, partition_key: int, versions: Sequence[NewVersion]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Upserts each study and series once, with the values of its instances merged; returns their keys."""
    study_values: dict[str, dict] = {}
    series_values: dict[tuple[str, str], dict] = {}
    for version in versions:
        study_uid, series_uid, _ = version.instance_id
        _merge_latest(study_values.setdefault(study_uid, {}), version.study_values)
        _merge_latest(series_values.setdefault((study_uid, series_uid), {}), version.series_values)
    study_keys = {
        uid: await index.upsert_study(conn, partition_key, uid, values) for uid, values in study_values.items()
    }
    series_keys = {
        (study_uid, uid): await index.upsert_series(conn, partition_key, study_keys[study_uid], uid, values)
        for (study_uid, uid), values in series_values.items()
    }
    return study_keys, series_keys


def _merge_latest(merged: dict, values: dict) -> None:
    """Folds one instance's index values into ``merged``: a later non-empty value wins, None never does."""
    for name, value in values.items():
        if value is not None or name not in merged:
            merged[name] = value


def _instance_row(version: NewVersion, study_key: int, series_key: int, now: datetime) -> dict:
    """The instance row's values that a new version sets, whether the row is new or replaced."""
    return {
        "study_key": study_key,
        "series_key": series_key,
        "sop_class_uid": version.sop_class_uid,
        "transfer_syntax_uid": version.transfer_syntax_uid,
        "version": version.number,
        "blob_key": version.key,
        "size": version.size,
        "metadata": version.metadata.decode(),
        "frame_index": version.frame_index,
        "attributes": version.attributes,
        "created_at": now,
        **_original_columns(version),
    }
