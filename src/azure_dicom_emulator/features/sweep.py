"""The start-up sweep: files that a crash left without an index row are removed (DESIGN §4)."""

from __future__ import annotations

import logging

from ..storage import index
from .services import Services

log = logging.getLogger(__name__)
# A file is published moments before its row commits; younger files may belong to a live request.
GRACE_SECONDS = 120.0


async def sweep_orphans(services: Services, grace_seconds: float = GRACE_SECONDS) -> int:
    """Removes published files older than ``grace_seconds`` that no instance row names, and stale uploads.

    Returns how many files were removed.
    """
    removed = services.blobs.clear_staging_older_than(grace_seconds)
    candidates = list(services.blobs.keys_older_than(grace_seconds))
    orphans: list[str] = []
    for start in range(0, len(candidates), 5000):
        chunk = candidates[start : start + 5000]
        async with services.db.read() as conn:
            referenced = await index.referenced_blob_keys(conn, chunk)
        orphans.extend(key for key in chunk if key not in referenced)
    services.blobs.delete(orphans)
    removed += len(orphans)
    if removed:
        log.info("start-up sweep removed %d orphan file(s)", removed)
    return removed
