"""The datasets a search returns: index values, computed attributes and stored metadata (spec §5.6)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Row

from ...dicom.attribute_ids import path_of
from ...dicom.core_attributes import CORE_ATTRIBUTES, MODALITIES_IN_STUDY
from ...dicom.index_values import person_name_json
from ...dicom.query_attributes import KEPT
from ...storage import search as queries
from ...storage.tag_values import TagLevel
from .attributes import (
    COMPUTED,
    INDEXED,
    NUMBER_OF_SERIES_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_INSTANCES,
    NUMBER_OF_STUDY_RELATED_SERIES,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_KEY_COLUMNS = {TagLevel.STUDY: "study_key", TagLevel.SERIES: "series_key", TagLevel.INSTANCE: "instance_key"}


def _vr_of(tag: int) -> str:
    attribute = CORE_ATTRIBUTES.get(tag)
    return "UI" if attribute is None else attribute.vr


def _indexed_element(vr: str, value: str) -> dict:
    return {"vr": vr, "Value": [person_name_json(value) if vr == "PN" else value]}


async def build_datasets(conn: AsyncConnection, level: TagLevel, rows: Sequence[Row], tags: set[int]) -> list[dict]:
    """One DICOM JSON dataset per row with the attributes ``tags`` that have a value, in tag order.

    Indexed attributes come from the index (study and series values are the latest non-empty
    ones stored); computed ones are counted; any other attribute comes from the most recently
    stored instance of the row's study, series or instance: from the copy of the attributes
    searches return that the index keeps for it, or else from its whole metadata.
    """
    if not rows:
        return []
    levels = [row_level for row_level in TagLevel if row_level <= level]  # a row carries the levels above it
    from_index = {tag: column for lvl in levels for tag, column in INDEXED[lvl].items() if tag in tags}
    computed = {tag for lvl in levels for tag in COMPUTED[lvl] if tag in tags}
    stored = sorted(tags - from_index.keys() - computed)
    kept = [
        (f"{lvl.name.lower()}_attributes", {path_of(t) for t in stored if t in KEPT[lvl.name.lower()]})
        for lvl in levels
    ]
    kept = [(column, paths) for column, paths in kept if paths]
    uncovered = [path_of(t) for t in stored if not any(path_of(t) in paths for _, paths in kept)]
    datasets: list[dict] = [{} for _ in rows]
    whole_needed: list[int] = []
    for position, (dataset, row) in enumerate(zip(datasets, rows, strict=True)):
        for column, paths in kept:
            document = getattr(row, column)
            if document is None:  # stored before the index kept these attributes
                whole_needed.append(position)
                break
            dataset.update((path, element) for path, element in json.loads(document).items() if path in paths)
        if uncovered and (not whole_needed or whole_needed[-1] != position):
            whole_needed.append(position)
    if whole_needed:
        wanted = [path_of(tag) for tag in stored]
        await _add_from_metadata(
            conn, level, [rows[i] for i in whole_needed], [datasets[i] for i in whole_needed], wanted
        )
    # Rows are read by index: on a few thousand values, getattr takes a good part of a search's time.
    indexes = {name: index for index, name in enumerate(rows[0]._fields)}
    indexed = [(path_of(tag), indexes[column], _vr_of(tag)) for tag, column in from_index.items()]
    for dataset, row in zip(datasets, rows, strict=True):
        for path, index, vr in indexed:
            value = row[index]
            if value is not None:
                dataset[path] = _indexed_element(vr, value)
    if computed:
        await _add_computed(conn, rows, datasets, computed)
    return [dict(sorted(dataset.items())) for dataset in datasets]


async def _add_from_metadata(
    conn: AsyncConnection, level: TagLevel, rows: Sequence[Row], datasets: list[dict], paths: list[str]
) -> None:
    keys = [getattr(row, _KEY_COLUMNS[level]) for row in rows]
    documents = await queries.latest_metadata(conn, level, keys)
    for dataset, key in zip(datasets, keys, strict=True):
        metadata = json.loads(documents.get(key, "{}"))
        for path in paths:
            element = metadata.get(path)
            if element is not None and element.get("Value"):
                dataset[path] = element


async def _add_computed(conn: AsyncConnection, rows: Sequence[Row], datasets: list[dict], computed: set[int]) -> None:
    study_keys = sorted({row.study_key for row in rows})
    if computed & {NUMBER_OF_STUDY_RELATED_SERIES, NUMBER_OF_STUDY_RELATED_INSTANCES}:
        counts = await queries.study_counts(conn, study_keys)
        for dataset, row in zip(datasets, rows, strict=True):
            series_count, instance_count = counts.get(row.study_key, (0, 0))
            if NUMBER_OF_STUDY_RELATED_SERIES in computed:
                dataset[path_of(NUMBER_OF_STUDY_RELATED_SERIES)] = {"vr": "IS", "Value": [series_count]}
            if NUMBER_OF_STUDY_RELATED_INSTANCES in computed:
                dataset[path_of(NUMBER_OF_STUDY_RELATED_INSTANCES)] = {"vr": "IS", "Value": [instance_count]}
    if MODALITIES_IN_STUDY in computed:
        modalities = await queries.study_modalities(conn, study_keys)
        for dataset, row in zip(datasets, rows, strict=True):
            if modalities.get(row.study_key):
                dataset[path_of(MODALITIES_IN_STUDY)] = {"vr": "CS", "Value": modalities[row.study_key]}
    if NUMBER_OF_SERIES_RELATED_INSTANCES in computed:
        counts = await queries.series_counts(conn, sorted({row.series_key for row in rows}))
        for dataset, row in zip(datasets, rows, strict=True):
            dataset[path_of(NUMBER_OF_SERIES_RELATED_INSTANCES)] = {
                "vr": "IS",
                "Value": [counts.get(row.series_key, 0)],
            }
