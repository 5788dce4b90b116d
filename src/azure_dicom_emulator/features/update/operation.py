"""The update operation: each listed study's instances rewritten with the change dataset (spec §10).

A batch is one study, in list order. Its instances are read, their files rewritten into the blob
store's staging area in the CPU pool (``dicom.element_update``) and published under new versions' keys
(``version_numbers``), and then one transaction writes their new versions as the store path writes
them (``instance_versions``, with the original kept)
and records the checkpoint: a study is either wholly updated or untouched, and a restart resumes at
the study after the last one committed. Instances stored after a study's rows were read are left
alone; a study deleted meanwhile counts as processed, not updated. A study whose files cannot be
rewritten (a value its character set cannot encode, say) fails, and so, at its end, does the operation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from importlib.metadata import version as package_version
from pathlib import Path

from sqlalchemy import Row

from ...dicom.element_update import UpdatedFile, update_file
from ...dicom.index_values import indexed_levels
from ...storage import index, operations
from ...storage.blob_store import BlobNotFound
from ...storage.index import ChangeAction, InstanceId
from ..instance_versions import NewVersion, write_new_versions
from ..operations import LostOwnership, holding_lease
from ..scope import Scope
from ..services import Services
from ..version_numbers import publish_new_files

log = logging.getLogger(__name__)
IMPLEMENTATION_VERSION = package_version("azure-dicom-emulator")
"""The (0002,0013) Implementation Version Name of every file an update writes."""
FAILED_STUDY = "Failed to update instances for study {uid}"
MAX_INSTANCE_ERRORS = 5


def initial_state(scope: Scope, study_uids: list[str], change_dataset: dict) -> dict:
    """The checkpoint of an update that has not started: every study to do, nothing counted yet."""
    return {
        "partition_key": scope.partition_key,
        "partition_name": scope.partition_name,
        "study_uids": study_uids,
        "change_dataset": change_dataset,
        "next": 0,
        "results": {"studyProcessed": 0, "studyUpdated": 0, "studyFailed": 0, "instanceUpdated": 0},
    }


async def run_batch(services: Services, operation: Row, owner: str) -> bool:
    """Updates the next study of the operation; True when the operation is finished (or no longer ours)."""
    state = json.loads(operation.checkpoint)
    scope = _scope(services, state)
    study_uid = state["study_uids"][state["next"]]
    async with services.db.read() as conn:
        if not await operations.owns(conn, operation.operation_id, owner):
            return True
        rows = await index.study_instances(conn, scope.partition_key, study_uid)
    staged = [services.blobs.new_staging_path() for _ in rows]
    published: dict[InstanceId, tuple[int, str]] = {}
    written: set[InstanceId] = set()
    superseded: list[str] = []
    try:
        async with holding_lease(services, operation.operation_id, owner):
            outcomes = await _rewrite(services, rows, staged, state["change_dataset"])
            rewritten = [
                (path, _instance_id(row))
                for row, path, outcome in zip(rows, staged, outcomes, strict=True)
                if not isinstance(outcome, Exception)
            ]
            numbers_and_keys = await publish_new_files(services, scope.partition_key, rewritten)
            published = dict(zip((instance_id for _, instance_id in rewritten), numbers_and_keys, strict=True))
        async with services.db.write() as conn:
            current = await index.find_instances(conn, scope.partition_key, [_instance_id(row) for row in rows])
            live = [
                (row, outcome)
                for row, outcome in zip(rows, outcomes, strict=True)
                if (now := current.get(_instance_id(row))) is not None and now.version == row.version
            ]
            failures = [(row, outcome) for row, outcome in live if isinstance(outcome, Exception)]
            if not failures and live:
                versions = [
                    _new_version(current[_instance_id(row)], *published[_instance_id(row)], outcome)
                    for row, outcome in live
                ]
                superseded = await write_new_versions(conn, services, scope, versions, ChangeAction.UPDATE)
                written = {version.instance_id for version in versions}
            finished = _count(state, study_uid, 0 if failures else len(live), failures)
            percent = 100 if finished else state["next"] * 100 // len(state["study_uids"])
            status = operations.RUNNING
            if finished:
                status = operations.FAILED if state["results"]["studyFailed"] else operations.SUCCEEDED
            lease = services.settings.operation_lease_seconds
            if not await operations.checkpoint(conn, operation.operation_id, owner, state, percent, lease, status):
                raise LostOwnership(operation.operation_id)
    except BaseException:
        await services.blobs.delete(key for _, key in published.values())
        raise
    finally:
        services.blobs.discard_staged(staged)
    services.events.wake()
    # Only after the commit: the intermediate versions of instances updated before, and the files not used.
    unused = [key for instance_id, (_, key) in published.items() if instance_id not in written]
    await services.blobs.delete(superseded + unused)
    return finished


def _scope(services: Services, state: dict) -> Scope:
    """The scope the update's changes are recorded in: its partition, as the request named it."""
    return Scope(
        api_version=2,
        version_segment="v2",
        partition_key=state["partition_key"],
        partition_name=state["partition_name"],
        partitions_enabled=services.settings.partitions_enabled,
        base_url="",
    )


async def _rewrite(
    services: Services, rows: list[Row], staged: list[Path], changes: dict
) -> list[UpdatedFile | Exception]:
    """Each instance's file rewritten with the changes into its staging path, in the CPU pool; for a file
    that cannot be rewritten (or whose file is gone), the reason instead. Any other failure (a worker that died,
    a blob store out of reach) is raised."""
    jobs = [_rewrite_one(services, row, path, changes) for row, path in zip(rows, staged, strict=True)]
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, ValueError | OSError | BlobNotFound):
            raise outcome
    return outcomes


async def _rewrite_one(services: Services, row: Row, staged: Path, changes: dict) -> UpdatedFile:
    """One instance's file rewritten into ``staged`` in the CPU pool, from a local copy of its blob."""
    async with services.blobs.local_copy(row.blob_key) as source:
        return await asyncio.get_running_loop().run_in_executor(
            services.cpu_pool, update_file, str(source), str(staged), changes, IMPLEMENTATION_VERSION, row.metadata
        )


def _new_version(row: Row, number: int, key: str, updated: UpdatedFile) -> NewVersion:
    """The new version an updated file, published under ``key``, makes of the instance whose row is ``row``,
    its original kept."""
    levels = indexed_levels(json.loads(updated.metadata))
    return NewVersion(
        number=number,
        key=key,
        instance_id=_instance_id(row),
        sop_class_uid=row.sop_class_uid,
        transfer_syntax_uid=row.transfer_syntax_uid,
        size=updated.size,
        metadata=updated.metadata.encode(),
        frame_index=updated.frame_index,
        attributes=levels.instance_attributes,
        study_values=levels.study_values,
        series_values=levels.series_values,
        replaces=row,
        keeps_original=True,
    )


def _count(state: dict, study_uid: str, updated: int, failures: list[tuple[Row, Exception]]) -> bool:
    """Counts the study in the checkpoint's results and moves on; True when it was the last study."""
    results = state["results"]
    results["studyProcessed"] += 1
    if failures:
        log.warning("update of study %s failed: %s", study_uid, "; ".join(str(error) for _, error in failures))
        results["studyFailed"] += 1
        errors = results.setdefault("errors", [])
        errors.append(FAILED_STUDY.format(uid=study_uid))
        for row, error in failures[:MAX_INSTANCE_ERRORS]:
            errors.append(f"Failed to update instance {row.sop_uid}: {error}")
        if len(failures) > MAX_INSTANCE_ERRORS:
            errors.append(f"{len(failures) - MAX_INSTANCE_ERRORS} more instances of study {study_uid} failed")
    elif updated:
        results["studyUpdated"] += 1
        results["instanceUpdated"] += updated
    state["next"] += 1
    return state["next"] >= len(state["study_uids"])


def _instance_id(row: Row) -> InstanceId:
    return (row.study_uid, row.series_uid, row.sop_uid)
