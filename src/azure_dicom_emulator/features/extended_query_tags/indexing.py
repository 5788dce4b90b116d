"""Indexing extended query tag values of instances, at store time and when reindexing (spec §8.4)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ...dicom.extended_values import TagSpec, tag_value
from ...storage import index, tag_values
from ...storage.tag_values import TagLevel, TagValue

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


def spec_of(tag: Row) -> TagSpec:
    """What indexing needs of a stored tag row."""
    return TagSpec(int(tag.path, 16), tag.vr, tag.private_creator)


@dataclass
class IndexedInstance:
    """A stored instance whose tag values are to be indexed, with the keys of its rows."""

    instance_id: tuple[str, str, str]
    version: int
    study_key: int
    series_key: int
    metadata: bytes | str
    known_values: dict[int, object] = field(default_factory=dict)
    """Values already computed for some tags (by DICOM tag), e.g. while the upload was inspected."""
    instance_key: int | None = None


async def index_instances(
    conn: AsyncConnection, partition_key: int, tags: Sequence[Row], instances: Sequence[IndexedInstance]
) -> None:
    """Indexes the values of every tag in ``tags`` for the newly stored ``instances`` (never strict)."""
    if not tags or not instances:
        return
    if any(tag.level == TagLevel.INSTANCE for tag in tags) and any(i.instance_key is None for i in instances):
        rows = await index.find_instances(conn, partition_key, [item.instance_id for item in instances])
        for item in instances:
            item.instance_key = rows[item.instance_id].instance_key
    parsed: dict[int, dict] = {}
    for tag in tags:
        spec = spec_of(tag)
        values = []
        for position, item in enumerate(instances):
            if spec.tag in item.known_values:
                value = item.known_values[spec.tag]
            else:
                if position not in parsed:
                    parsed[position] = json.loads(item.metadata)
                value, _ = tag_value(parsed[position], spec, strict=False)
            if value is not None:
                values.append(TagValue(owner_of(tag, item), value, item.version))
        await tag_values.write_values(conn, tag, values)


def owner_of(tag: Row, item: IndexedInstance) -> int:
    """The key of the row at the tag's level that owns the instance's value."""
    level = TagLevel(tag.level)
    if level == TagLevel.STUDY:
        return item.study_key
    if level == TagLevel.SERIES:
        return item.series_key
    return item.instance_key
