"""DELETE of studies, series and instances (spec §6)."""

from __future__ import annotations

from ...errors import resource_not_found
from ...storage import index
from ...storage.database import retrying_deadlocks
from .. import change_log
from ..scope import Scope
from ..services import Services
from ..uids import normalized, require_valid


async def delete(
    services: Services,
    scope: Scope,
    study_uid: str,
    series_uid: str | None = None,
    sop_uid: str | None = None,
) -> int:
    """Deletes every instance in the scope, records a change-feed entry for each, then removes its files
    (the latest version's and the original's that an update kept).

    Returns how many instances were deleted; raises NotFound when there were none.
    """
    require_valid(study_uid, series_uid, sop_uid)
    rows = await retrying_deadlocks(lambda: _delete_rows(services, scope, study_uid, series_uid, sop_uid))
    services.events.wake()
    # Only after the commit: a reader that still sees the rows can still read the files.
    await services.blobs.delete(key for row in rows for key in (row.blob_key, row.original_blob_key) if key)
    return len(rows)


async def _delete_rows(
    services: Services, scope: Scope, study_uid: str, series_uid: str | None, sop_uid: str | None
) -> list:
    """Removes the scope's instance rows and records their change-feed entries, in one transaction."""
    async with services.db.write() as conn:
        rows = await index.delete_instances(
            conn, scope.partition_key, normalized(study_uid), normalized(series_uid), normalized(sop_uid)
        )
        if not rows:
            raise resource_not_found(series_uid, sop_uid)
        await change_log.record(
            conn,
            services,
            scope,
            index.ChangeAction.DELETE,
            [((row.study_uid, row.series_uid, row.sop_uid), row.version) for row in rows],
        )
    return rows
