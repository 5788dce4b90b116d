"""The start-up sweep: blobs that a crash left without an index row are removed (DESIGN §4).

One host sweeps at a time (a lock every host shares); a blob counts as an orphan only once it is older
than the grace period, longer than any STOW request takes between publishing a blob and committing its
row, so a blob another host is still committing is never taken.
"""

from __future__ import annotations

import logging

from ...storage import index
from ..services import Services

log = logging.getLogger(__name__)
SWEEP_LOCK_ID = 0x44494357
"""The lock that lets one host sweep at a time."""
PAGE_ROWS = 20_000


async def sweep_orphans(services: Services, grace_seconds: float | None = None) -> int:
    """Removes published blobs older than ``grace_seconds`` (else the configured grace period) that no instance
    row names (as its latest or its original version), and stale staged files.

    Returns how many were removed; none when another host is sweeping now.
    """
    grace = services.settings.orphan_grace_seconds if grace_seconds is None else grace_seconds
    async with services.db.turn_of(SWEEP_LOCK_ID) as ours:
        if not ours:
            log.info("another host is sweeping orphan files; this one leaves it to it")
            return 0
        removed = await services.blobs.clear_staging_older_than(grace)
        orphans = await services.blobs.keys_older_than(grace)
        after = 0
        while orphans:  # every row's key is crossed off, a page of rows at a time, in primary-key order
            async with services.db.read() as conn:
                rows = await index.blob_keys_page(conn, after, PAGE_ROWS)
            if not rows:
                break
            orphans.difference_update(row.blob_key for row in rows)
            orphans.difference_update(row.original_blob_key for row in rows if row.original_blob_key)
            after = rows[-1].instance_key
        await services.blobs.delete(orphans)
    removed += len(orphans)
    if removed:
        log.info("start-up sweep removed %d orphan file(s)", removed)
    return removed
