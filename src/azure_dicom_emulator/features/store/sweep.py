"""The start-up sweep: files that a crash left without an index row are removed (DESIGN §4)."""

from __future__ import annotations

import logging

from ...storage import index
from ..services import Services

log = logging.getLogger(__name__)
# A file is published moments before its row commits; younger files may belong to a live request.
GRACE_SECONDS = 120.0
PAGE_ROWS = 20_000


async def sweep_orphans(services: Services, grace_seconds: float = GRACE_SECONDS) -> int:
    """Removes published files older than ``grace_seconds`` that no instance row names (as its latest or
    its original version), and stale uploads.

    Returns how many files were removed.
    """
    removed = services.blobs.clear_staging_older_than(grace_seconds)
    orphans = set(services.blobs.keys_older_than(grace_seconds))
    after = 0
    while orphans:  # every row's key is crossed off, a page of rows at a time, in primary-key order
        async with services.db.read() as conn:
            rows = await index.blob_keys_page(conn, after, PAGE_ROWS)
        if not rows:
            break
        orphans.difference_update(row.blob_key for row in rows)
        orphans.difference_update(row.original_blob_key for row in rows if row.original_blob_key)
        after = rows[-1].instance_key
    services.blobs.delete(orphans)
    removed += len(orphans)
    if removed:
        log.info("start-up sweep removed %d orphan file(s)", removed)
    return removed
